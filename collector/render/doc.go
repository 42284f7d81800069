// Package render writes the human and machine output of the client
// commands (picket endpoints, teams, vantages, report): aligned tables,
// JSON and CSV.
package render
