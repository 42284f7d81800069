// Package checks defines what a check is: the Kind interface that parses
// and validates a spec of one kind, the Check it yields, and the Registry
// that finds a kind by name. Each kind lives in its own subpackage
// (checks/http, checks/dns, ...); checks/all assembles the registry of every
// kind so that callers never keep a package-level one.
//
// A spec travels as JSON: the common fields (kind, interval, timeout) and
// the kind's own options side by side. Validation errors are FieldErrors
// that name the field by its dotted path, so that the YAML front end can
// point at the file and line.
package checks
