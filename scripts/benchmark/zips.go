package main

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

type zipResult struct {
	names      []string
	zipped     map[string]int64 // bytes
	binary     map[string]int64 // bytes
	cmd, build string
}

// runZips builds every function for linux/arm64 as infra/Makefile does and
// zips its bootstrap as SAM packages it (deflate, the default level).
func runZips(ctx context.Context, o *options, r *report) error {
	dir := filepath.Join(o.scratch, "arm64")
	names, err := buildFunctions(ctx, o, dir, "arm64")
	if err != nil {
		return err
	}
	res := zipResult{names: names, zipped: map[string]int64{}, binary: map[string]int64{}}
	for _, name := range names {
		bin := filepath.Join(dir, name, "bootstrap")
		res.binary[name], err = fileSize(bin)
		if err != nil {
			return err
		}
		zipPath := filepath.Join(dir, name+".zip")
		if err := zipFile(zipPath, bin); err != nil {
			return fmt.Errorf("zip %s: %w", name, err)
		}
		res.zipped[name], err = fileSize(zipPath)
		if err != nil {
			return err
		}
	}
	res.build = "make -f infra/Makefile build-<LogicalId> ARTIFACTS_DIR=<dir>   # GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags=\"-s -w\""
	res.cmd = "cd <dir> && zip -q bootstrap.zip bootstrap   # deflate, default level, as SAM packages it"
	r.zips = res
	return nil
}

func zipFile(zipPath, file string) error {
	out, err := os.Create(zipPath)
	if err != nil {
		return err
	}
	defer out.Close()
	in, err := os.Open(file)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	zw := zip.NewWriter(out)
	hdr, err := zip.FileInfoHeader(st)
	if err != nil {
		return err
	}
	hdr.Name, hdr.Method = filepath.Base(file), zip.Deflate
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, in); err != nil {
		return err
	}
	return zw.Close()
}
