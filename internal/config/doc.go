// Package config loads Picket's YAML files (prober.yaml, collector.yaml,
// picket.yaml, endpoint files) strictly: an unknown key or a value of the
// wrong type is an error that names the file, the line and the key. It also
// provides the value types those files share: durations such as "14d",
// byte sizes such as "512MiB", and secrets read from a file or the
// environment.
package config
