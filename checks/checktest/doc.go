// Package checktest holds what the tests and benchmarks of every check
// kind share: the contract a parse error must meet, and a benchmark loop
// that reports the CPU time of a run. It is for tests only.
package checktest
