package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

const lockName = "dev.lock"

// isStateFolder: dir holds scripts/dev's lock, or its data folders.
func isStateFolder(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, lockName)); err == nil {
		return true
	}
	for _, d := range []string{"kms", "dynamodb"} {
		if fi, err := os.Stat(filepath.Join(dir, d)); err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

// lockState makes dir this run's state folder: an exclusive lock on
// dir/dev.lock, held while the process lives, so a second scripts/dev on
// the same folder stops before it touches anything. A folder that is not
// empty and has no dev.lock is not a state folder: it is refused, so that
// --reset cannot delete anything else. With reset, everything in it but
// the lock goes.
func lockState(dir string, reset bool) (*os.File, error) {
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	if len(entries) > 0 && !isStateFolder(dir) {
		return nil, fmt.Errorf("%s is not empty and is not a scripts/dev state folder (no %s): choose another --state", dir, lockName)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(f.Name())
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another scripts/dev runs on %s (pid %s): stop it, or use another --state", dir, strings.TrimSpace(string(b)))
		}
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if reset {
		for _, e := range entries {
			if e.Name() != lockName {
				if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
					f.Close()
					return nil, err
				}
			}
		}
	}
	return f, nil
}
