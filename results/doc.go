// Package results defines the result record that every check run yields
// (DESIGN.md §4), the fixed vocabulary of failure layers and codes, and the
// kind-specific details. It sits at the bottom of the dependency graph: the
// checks produce records, the prober ships them, the collector stores them
// and alerting reads them, so this package imports none of those.
//
// The Store interface and its implementations live in this package's
// subpackages (results/sqlite, results/postgres).
package results
