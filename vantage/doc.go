// Package vantage describes who is probing: a vantage's identity (id,
// region, provider, ASN, location), the assignment a collector hands it,
// and the collector-side registry that tracks enrolled vantages and their
// heartbeats.
package vantage
