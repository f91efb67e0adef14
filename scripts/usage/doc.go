// Package usage holds no code: its test checks that every script of the
// repository (scripts/* and .ci/run) answers --help and -h with its usage at
// once, exit 0, before it installs, builds or starts anything.
package usage
