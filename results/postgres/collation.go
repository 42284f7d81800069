package postgres

// byteOrderMigration gives the names that rollup rows are keyed, indexed
// and joined on the "C" collation. Compaction writes and reads hundreds
// of thousands of these rows a minute; under the database's collation
// (en_US.UTF-8 or C.UTF-8, as initdb usually makes it) every comparison
// in their B-trees is a strcoll call, and the order is not the byte
// order in which compaction sorts the rows it appends
// (rollup.CompareKeys). "C" compares bytes. Nothing a user sees is
// ordered by the server: reports and lists are sorted in Go.
//
// Changing a column's collation rebuilds its indexes, not the table.
const byteOrderMigration = `
ALTER TABLE rollup_minute ALTER COLUMN check_id TYPE text COLLATE "C", ALTER COLUMN vantage TYPE text COLLATE "C",
	ALTER COLUMN team TYPE text COLLATE "C", ALTER COLUMN endpoint TYPE text COLLATE "C";
ALTER TABLE rollup_hour ALTER COLUMN check_id TYPE text COLLATE "C", ALTER COLUMN vantage TYPE text COLLATE "C",
	ALTER COLUMN team TYPE text COLLATE "C", ALTER COLUMN endpoint TYPE text COLLATE "C";
ALTER TABLE rollup_pack ALTER COLUMN check_id TYPE text COLLATE "C",
	ALTER COLUMN team TYPE text COLLATE "C", ALTER COLUMN endpoint TYPE text COLLATE "C";
`
