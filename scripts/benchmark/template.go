package main

import (
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// memorySizes reads each function's MemorySize (MB) from template.yaml, by
// logical id, with the Globals default for those that set none. yaml.v3
// leaves the CloudFormation tags of the properties not read here alone.
func memorySizes(o *options) (map[string]int, error) {
	b, err := os.ReadFile(filepath.Join(o.root, "template.yaml"))
	if err != nil {
		return nil, err
	}
	var t struct {
		Globals struct {
			Function struct {
				MemorySize int `yaml:"MemorySize"`
			} `yaml:"Function"`
		} `yaml:"Globals"`
		Resources map[string]struct {
			Type       string `yaml:"Type"`
			Properties struct {
				MemorySize int `yaml:"MemorySize"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("template.yaml: %w", err)
	}
	sizes := map[string]int{}
	for id, res := range t.Resources {
		if res.Type != "AWS::Serverless::Function" {
			continue
		}
		sizes[id] = res.Properties.MemorySize
		if sizes[id] == 0 {
			sizes[id] = t.Globals.Function.MemorySize
		}
	}
	return sizes, nil
}
