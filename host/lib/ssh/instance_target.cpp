#include "cloudhost/ssh_executor.hpp"

namespace cloudhost {

std::string InstanceTarget::address() const {
    return instance_.address();
}

std::string InstanceTarget::remote_user() const {
    return instance_.remote_user();
}

void InstanceTarget::verify_host_key(const std::string &openssh_public_key,
                                     CommandRunner *unverified_connection) const {
    instance_.verify_host_key(openssh_public_key, unverified_connection);
}

} // namespace cloudhost
