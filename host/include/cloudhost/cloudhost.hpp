// libcloudhost's whole public API in one include, for dispatchers:
//   #include <cloudhost/cloudhost.hpp>
//   c++ -std=c++20 app.cpp $(pkg-config --cflags --libs cloudhost)
#pragma once

#include "cloudhost/catalog.hpp"
#include "cloudhost/cloudtest.hpp"
#include "cloudhost/config.hpp"
#include "cloudhost/driver_info.hpp"
#include "cloudhost/driver_library.hpp"
#include "cloudhost/errors.hpp"
#include "cloudhost/export.hpp"
#include "cloudhost/hot_swap.hpp"
#include "cloudhost/instance.hpp"
#include "cloudhost/instance_set.hpp"
#include "cloudhost/isolation.hpp"
#include "cloudhost/metrics.hpp"
#include "cloudhost/printable.hpp"
#include "cloudhost/ssh_executor.hpp"
#include "cloudhost/ssh_key.hpp"
#include "cloudhost/tag_rules.hpp"
#include "cloudhost/tag_verifier.hpp"
#include "cloudhost/trust.hpp"
#include "cloudhost/types.hpp"
#include "cloudhost/version.hpp"
