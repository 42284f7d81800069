// Package sqlitetest opens throwaway embedded stores for the tests of the
// packages that need a real store.
package sqlitetest
