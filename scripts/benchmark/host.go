package main

import "runtime"

// goarchHost is the architecture the local runs use (zips are arm64).
func goarchHost() string { return runtime.GOARCH }
