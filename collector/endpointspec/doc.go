// Package endpointspec is the endpoint registration format: the endpoints
// YAML file a team applies (DESIGN.md §3), read with the line of every
// field; the validation of an endpoint, shared by the CLI and the
// collector, whose errors name the endpoint and the field; and the stable
// check ids ("checkout-api/http", "checkout-api/http-2").
package endpointspec
