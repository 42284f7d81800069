// Package tftest checks the Terraform modules in terraform/ from `go test`:
// formatting, `terraform validate` and `terraform test` of the modules that
// need no provider, the rendered cloud-init user-data (cloud-init schema),
// the systemd units (systemd-analyze verify and security), the prober and
// collector configuration the modules write (decoded strictly, as DESIGN §3
// defines it), the release installer against a local HTTPS server, and,
// by parsing the HCL, the interface every provider module shares.
//
// The package holds tests only; Terraform runs on copies of the modules in
// temporary directories, with no network and no provider downloads.
package tftest
