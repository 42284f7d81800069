// Package intern keeps one copy of strings that repeat in what a decoder
// reads: the checks, vantages, teams and regions of thousands of results
// or rollup rows are a few dozen distinct names, and allocating each
// again was a large part of the collector's garbage.
package intern
