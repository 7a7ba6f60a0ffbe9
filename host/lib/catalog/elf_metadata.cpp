// A deliberately small ELF64 reader: section headers -> .dynsym/.dynstr and
// .dynamic. Every offset and size comes from the (untrusted) file, so every
// access goes through ByteView, which checks bounds without overflowing.
#include "cloudhost/internal/elf_metadata.hpp"

#include "cloudhost/driver.h"
#include "cloudhost/errors.hpp"
#include "cloudhost/printable.hpp"
#include "cloudhost/version.hpp"
#include "file_bytes.hpp"

#include <elf.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string_view>

namespace cloudhost {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the ELF reader copies little-endian structs as they are");

#if defined(__x86_64__)
constexpr uint16_t host_machine = EM_X86_64;
#elif defined(__aarch64__)
constexpr uint16_t host_machine = EM_AARCH64;
#elif defined(__riscv) && __riscv_xlen == 64
constexpr uint16_t host_machine = EM_RISCV;
#elif defined(__powerpc64__)
constexpr uint16_t host_machine = EM_PPC64;
#elif defined(__s390x__)
constexpr uint16_t host_machine = EM_S390;
#else
#error "unsupported host machine for the ELF metadata reader"
#endif

std::string machine_name(uint16_t machine) {
    switch (machine) {
    case EM_X86_64:
        return "x86-64";
    case EM_AARCH64:
        return "AArch64";
    case EM_386:
        return "i386";
    case EM_ARM:
        return "ARM";
    case EM_RISCV:
        return "RISC-V";
    case EM_PPC64:
        return "PowerPC64";
    case EM_PPC:
        return "PowerPC";
    case EM_S390:
        return "S/390";
    case EM_MIPS:
        return "MIPS";
    case EM_SPARCV9:
        return "SPARC V9";
    case 258:
        return "LoongArch"; // EM_LOONGARCH, newer than some <elf.h>
    default:
        return "machine " + std::to_string(machine);
    }
}

// Keeps messages on one printable line whatever bytes the file holds.
std::string printable(std::string_view s) {
    return escape_text(s, {.ascii_only = true, .escape_quotes = true});
}

[[noreturn]] void fail(const std::string &reason) {
    throw LoadError(reason);
}

class ByteView {
  public:
    explicit ByteView(std::span<const std::byte> bytes) : bytes_(bytes) {}
    uint64_t size() const { return bytes_.size(); }

    bool contains(uint64_t offset, uint64_t length) const {
        return offset <= bytes_.size() && length <= bytes_.size() - offset;
    }

    template <typename T> T read(uint64_t offset, const char *what) const {
        if (!contains(offset, sizeof(T)))
            fail(std::string("truncated ELF: ") + what + " extends past end of file");
        T value;
        std::memcpy(&value, bytes_.data() + offset, sizeof(T));
        return value;
    }

    // The NUL-terminated string at `index` of the string table [offset,
    // offset+length) (already known to lie within the file).
    std::string_view string_at(uint64_t table_offset, uint64_t table_length, uint64_t index,
                               const char *what) const {
        if (index >= table_length)
            fail(std::string("corrupt ELF: ") + what + " name offset " + std::to_string(index) +
                 " lies outside its string table");
        const auto *start = reinterpret_cast<const char *>(bytes_.data() + table_offset + index);
        const size_t room = static_cast<size_t>(table_length - index);
        const void *nul = std::memchr(start, '\0', room);
        if (!nul)
            fail(std::string("corrupt ELF: ") + what + " name is not NUL-terminated");
        return {start, static_cast<size_t>(static_cast<const char *>(nul) - start)};
    }

    const std::byte *at(uint64_t offset) const { return bytes_.data() + offset; }

  private:
    std::span<const std::byte> bytes_;
};

struct Sections {
    uint64_t offset = 0;
    uint64_t count = 0;
};

void check_header(const ByteView &file, const Elf64_Ehdr &header) {
    if (header.e_type != ET_DYN)
        fail("ELF type " + std::to_string(header.e_type) +
             (header.e_type == ET_EXEC  ? " (executable)"
              : header.e_type == ET_REL ? " (object file)"
                                        : "") +
             " is not a shared object (ET_DYN)");
    if (header.e_machine != host_machine)
        fail("ELF for machine " + machine_name(header.e_machine) + ", host is " +
             machine_name(host_machine));
    if (header.e_version != EV_CURRENT)
        fail("unsupported ELF version " + std::to_string(header.e_version));
    (void)file;
}

// Checks the identification bytes and returns the ELF header.
Elf64_Ehdr read_header(const ByteView &file) {
    if (file.size() == 0)
        fail("empty file");
    static constexpr unsigned char magic[SELFMAG] = {ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3};
    if (file.size() < SELFMAG || std::memcmp(file.at(0), magic, SELFMAG) != 0)
        fail("not an ELF file");
    if (file.size() < EI_NIDENT)
        fail("truncated ELF: identification incomplete");
    const auto *ident = reinterpret_cast<const unsigned char *>(file.at(0));
    if (ident[EI_CLASS] == ELFCLASS32) {
        std::string machine;
        if (file.contains(18, 2))
            machine = " for machine " + machine_name(file.read<uint16_t>(18, "ELF header"));
        fail("32-bit ELF (ELFCLASS32)" + machine + ", host is 64-bit " +
             machine_name(host_machine));
    }
    if (ident[EI_CLASS] != ELFCLASS64)
        fail("unknown ELF class " + std::to_string(ident[EI_CLASS]));
    if (ident[EI_DATA] == ELFDATA2MSB)
        fail("big-endian ELF (ELFDATA2MSB), host is little-endian");
    if (ident[EI_DATA] != ELFDATA2LSB)
        fail("unknown ELF data encoding " + std::to_string(ident[EI_DATA]));
    if (ident[EI_VERSION] != EV_CURRENT)
        fail("unsupported ELF identification version " + std::to_string(ident[EI_VERSION]));
    const auto header = file.read<Elf64_Ehdr>(0, "ELF header");
    check_header(file, header);
    return header;
}

Sections section_table(const ByteView &file, const Elf64_Ehdr &header) {
    if (header.e_shoff == 0)
        fail("no section headers: cannot find the dynamic symbol table");
    if (header.e_shentsize != sizeof(Elf64_Shdr))
        fail("corrupt ELF: section header size " + std::to_string(header.e_shentsize) +
             ", expected " + std::to_string(sizeof(Elf64_Shdr)));
    Sections s{header.e_shoff, header.e_shnum};
    if (s.count == 0) // extended numbering: the count lives in section 0
        s.count = file.read<Elf64_Shdr>(header.e_shoff, "section headers").sh_size;
    if (!file.contains(s.offset, 0) || s.count > (file.size() - s.offset) / sizeof(Elf64_Shdr))
        fail("truncated ELF: section headers extend past end of file");
    return s;
}

Elf64_Shdr section(const ByteView &file, const Sections &sections, uint64_t index) {
    // index < count and the table is within the file: this read cannot fail.
    return file.read<Elf64_Shdr>(sections.offset + index * sizeof(Elf64_Shdr), "section header");
}

// The section's bytes must be in the file.
void check_section_data(const ByteView &file, const Elf64_Shdr &sh, const char *what) {
    if (sh.sh_type == SHT_NOBITS)
        fail(std::string("corrupt ELF: ") + what + " has no data in the file (SHT_NOBITS)");
    if (!file.contains(sh.sh_offset, sh.sh_size))
        fail(std::string("truncated ELF: ") + what + " extends past end of file");
}

// The string table a symbol or dynamic section links to.
Elf64_Shdr linked_strings(const ByteView &file, const Sections &sections, const Elf64_Shdr &sh,
                          const char *what) {
    if (sh.sh_link == 0 || sh.sh_link >= sections.count)
        fail(std::string("corrupt ELF: ") + what + " links to no string table");
    const Elf64_Shdr strings = section(file, sections, sh.sh_link);
    if (strings.sh_type != SHT_STRTAB)
        fail(std::string("corrupt ELF: ") + what +
             " links to a section that is not a string table");
    check_section_data(file, strings, "string table");
    return strings;
}

std::optional<Elf64_Shdr> find_section(const ByteView &file, const Sections &sections,
                                       uint32_t type) {
    for (uint64_t i = 1; i < sections.count; ++i) {
        const Elf64_Shdr sh = section(file, sections, i);
        if (sh.sh_type == type)
            return sh;
    }
    return std::nullopt;
}

bool is_defined_global(const Elf64_Sym &sym) {
    const unsigned bind = ELF64_ST_BIND(sym.st_info);
    return (bind == STB_GLOBAL || bind == STB_WEAK) && sym.st_shndx != SHN_UNDEF;
}

// Copies the bytes of a defined data symbol out of the file.
ch_driver_info copy_info_object(const ByteView &file, const Sections &sections,
                                const Elf64_Sym &sym) {
    const char *const name = CH_DRIVER_INFO_SYMBOL;
    if (ELF64_ST_TYPE(sym.st_info) != STT_OBJECT)
        fail(std::string(name) + " is not a data object");
    if (sym.st_shndx >= SHN_LORESERVE || sym.st_shndx >= sections.count)
        fail(std::string(name) + " lies in no section of the file (section index " +
             std::to_string(sym.st_shndx) + ")");
    if (sym.st_size < sizeof(ch_driver_info))
        fail(std::string(name) + " is " + std::to_string(sym.st_size) +
             " bytes, expected at least " + std::to_string(sizeof(ch_driver_info)));
    const Elf64_Shdr sh = section(file, sections, sym.st_shndx);
    if (sh.sh_type == SHT_NOBITS)
        fail(std::string(name) +
             " lies in a section without file data (SHT_NOBITS): not initialised");
    check_section_data(file, sh, "the section holding " CH_DRIVER_INFO_SYMBOL);
    if (sym.st_value < sh.sh_addr || sym.st_value - sh.sh_addr > sh.sh_size ||
        sizeof(ch_driver_info) > sh.sh_size - (sym.st_value - sh.sh_addr))
        fail(std::string(name) + " lies outside its section");
    const uint64_t offset = sh.sh_offset + (sym.st_value - sh.sh_addr);
    return file.read<ch_driver_info>(offset, CH_DRIVER_INFO_SYMBOL);
}

// A NUL-terminated field of the metadata.
std::string_view info_string(const char *field, size_t capacity, const char *what) {
    const void *nul = std::memchr(field, '\0', capacity);
    if (!nul)
        fail(std::string("metadata ") + what + " is not NUL-terminated within " +
             std::to_string(capacity) + " bytes");
    return {field, static_cast<size_t>(static_cast<const char *>(nul) - field)};
}

DriverInfo validate_info(const ch_driver_info &raw) {
    if (raw.magic != CH_DRIVER_INFO_MAGIC) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "metadata magic 0x%08x is not 0x%08x", raw.magic,
                      CH_DRIVER_INFO_MAGIC);
        fail(buf);
    }
    if (raw.struct_size < sizeof(ch_driver_info))
        fail("metadata struct_size " + std::to_string(raw.struct_size) + " is smaller than " +
             std::to_string(sizeof(ch_driver_info)));
    DriverInfo info;
    const std::string_view name = info_string(raw.name, sizeof raw.name, "name");
    if (name.empty())
        fail("metadata name is empty");
    for (char c : name) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            fail("metadata name \"" + printable(name) + "\" has characters outside [a-z0-9_-]");
    }
    const std::string_view version = info_string(raw.version, sizeof raw.version, "version");
    try {
        Version::parse(version);
    } catch (const std::invalid_argument &e) {
        fail(std::string("metadata ") + e.what());
    }
    const std::string_view description =
        info_string(raw.description, sizeof raw.description, "description");
    for (unsigned char c : description) {
        if (c < 0x20 || c == 0x7f)
            fail("metadata description contains control characters");
    }
    if (raw.abi_min == 0 || raw.abi_min > raw.abi_max)
        fail("metadata ABI range " + std::to_string(raw.abi_min) + ".." +
             std::to_string(raw.abi_max) + " is invalid");
    info.name = name;
    info.version = version;
    info.description = description;
    info.abi_min = raw.abi_min;
    info.abi_max = raw.abi_max;
    return info;
}

std::vector<std::string> split_path_list(std::string_view list) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= list.size()) {
        const size_t end = std::min(list.find(':', start), list.size());
        if (end > start)
            out.emplace_back(list.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

void read_dynamic(const ByteView &file, const Sections &sections, DriverElf &out) {
    const auto dynamic = find_section(file, sections, SHT_DYNAMIC);
    if (!dynamic)
        return; // no dependencies at all
    check_section_data(file, *dynamic, "dynamic section");
    if (dynamic->sh_entsize != sizeof(Elf64_Dyn))
        fail("corrupt ELF: dynamic section entry size " + std::to_string(dynamic->sh_entsize));
    const Elf64_Shdr strings = linked_strings(file, sections, *dynamic, "dynamic section");
    const uint64_t count = dynamic->sh_size / sizeof(Elf64_Dyn);
    for (uint64_t i = 0; i < count; ++i) {
        const auto entry =
            file.read<Elf64_Dyn>(dynamic->sh_offset + i * sizeof(Elf64_Dyn), "dynamic section");
        if (entry.d_tag == DT_NULL)
            break;
        if (entry.d_tag != DT_NEEDED && entry.d_tag != DT_RPATH && entry.d_tag != DT_RUNPATH)
            continue;
        const std::string_view value =
            file.string_at(strings.sh_offset, strings.sh_size, entry.d_un.d_val, "dynamic entry");
        if (entry.d_tag == DT_NEEDED)
            out.needed.emplace_back(value);
        else if (entry.d_tag == DT_RPATH)
            out.rpath = split_path_list(value);
        else
            out.runpath = split_path_list(value);
    }
}

} // namespace

DriverElf inspect_driver_elf(std::span<const std::byte> file_bytes) {
    const ByteView file(file_bytes);
    const Elf64_Ehdr header = read_header(file);
    const Sections sections = section_table(file, header);

    const auto dynsym = find_section(file, sections, SHT_DYNSYM);
    if (!dynsym)
        fail("no dynamic symbol table (.dynsym): not a cloudhost driver");
    check_section_data(file, *dynsym, "dynamic symbol table");
    if (dynsym->sh_entsize != sizeof(Elf64_Sym))
        fail("corrupt ELF: dynamic symbol size " + std::to_string(dynsym->sh_entsize) +
             ", expected " + std::to_string(sizeof(Elf64_Sym)));
    const Elf64_Shdr dynstr = linked_strings(file, sections, *dynsym, "dynamic symbol table");

    DriverElf out;
    std::optional<Elf64_Sym> info_symbol;
    bool info_referenced = false;
    const uint64_t count = dynsym->sh_size / sizeof(Elf64_Sym);
    for (uint64_t i = 1; i < count; ++i) { // symbol 0 is the reserved null symbol
        const auto sym =
            file.read<Elf64_Sym>(dynsym->sh_offset + i * sizeof(Elf64_Sym), "dynamic symbol");
        if (sym.st_name == 0)
            continue;
        const std::string_view name =
            file.string_at(dynstr.sh_offset, dynstr.sh_size, sym.st_name, "symbol");
        if (name == CH_DRIVER_INFO_SYMBOL) {
            if (is_defined_global(sym) && !info_symbol)
                info_symbol = sym;
            else if (!is_defined_global(sym))
                info_referenced = true;
        } else if (name == CH_DRIVER_ENTRY_SYMBOL) {
            const unsigned type = ELF64_ST_TYPE(sym.st_info);
            if (is_defined_global(sym) && sym.st_shndx < SHN_LORESERVE &&
                (type == STT_FUNC || type == STT_GNU_IFUNC))
                out.entry_defined = true;
        }
    }
    if (!info_symbol)
        fail(info_referenced ? CH_DRIVER_INFO_SYMBOL " is referenced but not defined by the file"
                             : "no " CH_DRIVER_INFO_SYMBOL " symbol: not a cloudhost driver");
    out.info = validate_info(copy_info_object(file, sections, *info_symbol));
    read_dynamic(file, sections, out);
    return out;
}

DriverElf inspect_driver_elf(const std::filesystem::path &path) {
    try {
        const auto bytes = detail::read_file_bytes(path);
        return inspect_driver_elf(std::span<const std::byte>(bytes));
    } catch (const LoadError &e) {
        throw LoadError(path.string() + ": " + e.what());
    }
}

namespace {
DriverInfo require_entry(DriverElf elf) {
    if (!elf.entry_defined)
        fail("entry point " CH_DRIVER_ENTRY_SYMBOL " not defined by the driver");
    return std::move(elf.info);
}
} // namespace

DriverInfo read_driver_metadata(std::span<const std::byte> file_bytes) {
    return require_entry(inspect_driver_elf(file_bytes));
}

DriverInfo read_driver_metadata(const std::filesystem::path &path) {
    auto elf = inspect_driver_elf(path);
    if (!elf.entry_defined)
        throw LoadError(path.string() + ": entry point " CH_DRIVER_ENTRY_SYMBOL
                                        " not defined by the driver");
    return std::move(elf.info);
}

} // namespace cloudhost
