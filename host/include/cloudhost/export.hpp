// CLOUDHOST_API marks what libcloudhost.so exports. The library is built
// with -fvisibility=hidden (host/meson.build), so a class or function of
// the public headers without the mark cannot be linked by a dispatcher,
// and nothing else (cloudhost::detail, the areas' internals) is exported.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define CLOUDHOST_API __attribute__((visibility("default")))
#else
#define CLOUDHOST_API
#endif

// For the private nested types of an exported class (their definitions in
// the library's sources): members of a nested type inherit the enclosing
// class's default visibility unless marked hidden.
#if defined(__GNUC__) || defined(__clang__)
#define CLOUDHOST_LOCAL __attribute__((visibility("hidden")))
#else
#define CLOUDHOST_LOCAL
#endif
