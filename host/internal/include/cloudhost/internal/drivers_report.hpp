// `cloudhost drivers` output: the catalog's verdicts as a table or JSON.
#pragma once

#include "cloudhost/catalog.hpp"
#include "cloudhost/isolation.hpp"

#include <ostream>
#include <vector>

namespace cloudhost {

// Aligned columns STATUS NAME VERSION ABI TRUST ISOLATION PATH REASON, one
// line per file; unknown fields print as "-"; an active driver's status
// reads "ok*", explained by a legend line under the table when there is one;
// TRUST is "allow-all", "digest", "signed" or "refused"; ISOLATION is where
// an ok file's code would run under `isolation` ("none": in process,
// "process": in a helper; resolve_isolation).
void write_drivers_table(std::ostream &out, const std::vector<DriverFile> &files,
                         IsolationMode isolation = IsolationMode::automatic);

// One line of JSON:
//   {"drivers":[{"path":"...","name":"fixture","version":"1.1.0","abi":"1..1",
//                "sha256":"...","status":"ok","reason":"","trust":"allow-all",
//                "active":true,"isolation":"process"}]}
// "name", "version" and "abi" are null when the metadata could not be read,
// "sha256" is null when the file could not be read; "reason" is "" when ok;
// "trust" is DriverFile::trust (null when the file could not be read).
// "abi" is the driver's range "MIN..MAX"; "isolation" as the table's
// ISOLATION (null for a rejected file).
void write_drivers_json(std::ostream &out, const std::vector<DriverFile> &files,
                        IsolationMode isolation = IsolationMode::automatic);

} // namespace cloudhost
