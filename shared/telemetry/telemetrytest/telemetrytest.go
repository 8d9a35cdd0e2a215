// Package telemetrytest checks Embedded Metric Format documents against the
// structure the CloudWatch EMF specification requires, for tests.
package telemetrytest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// units the EMF specification allows (the CloudWatch StandardUnit values).
var units = map[string]bool{
	"Seconds": true, "Microseconds": true, "Milliseconds": true, "Bytes": true, "Kilobytes": true,
	"Megabytes": true, "Gigabytes": true, "Terabytes": true, "Bits": true, "Kilobits": true, "Megabits": true,
	"Gigabits": true, "Terabits": true, "Percent": true, "Count": true, "Bytes/Second": true,
	"Kilobytes/Second": true, "Megabytes/Second": true, "Gigabytes/Second": true, "Terabytes/Second": true,
	"Bits/Second": true, "Kilobits/Second": true, "Megabits/Second": true, "Gigabits/Second": true,
	"Terabits/Second": true, "Count/Second": true, "None": true,
}

// Doc is a decoded EMF document: its root members.
type Doc map[string]any

// IsEMF reports whether a log line is an EMF document (has an _aws member).
func IsEMF(line []byte) bool { return bytes.Contains(line, []byte(`"_aws"`)) }

// Validate checks one log line against the EMF specification's structure: a JSON
// object with _aws.Timestamp (epoch milliseconds) and a non-empty
// _aws.CloudWatchMetrics, each directive with a Namespace of 1-255 characters,
// Dimensions as arrays of at most 30 dimension keys whose root members are
// strings, and 1-100 Metrics with a Name, an allowed Unit, and a numeric root
// member of that name.
func Validate(line []byte) (Doc, error) {
	var doc Doc
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if dec.More() {
		return nil, errors.New("data after the JSON object")
	}
	aws, ok := doc["_aws"].(map[string]any)
	if !ok {
		return nil, errors.New("_aws is missing or not an object")
	}
	if ts, ok := aws["Timestamp"].(json.Number); !ok {
		return nil, errors.New("_aws.Timestamp is missing or not a number")
	} else if n, err := ts.Int64(); err != nil || n < 1e12 {
		return nil, fmt.Errorf("_aws.Timestamp %v is not epoch milliseconds", ts)
	}
	directives, ok := aws["CloudWatchMetrics"].([]any)
	if !ok || len(directives) == 0 {
		return nil, errors.New("_aws.CloudWatchMetrics is missing or empty")
	}
	for i, d := range directives {
		dir, ok := d.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("directive %d is not an object", i)
		}
		ns, _ := dir["Namespace"].(string)
		if ns == "" || len(ns) > 255 || strings.HasPrefix(ns, "AWS/") {
			return nil, fmt.Errorf("directive %d: Namespace %q invalid", i, ns)
		}
		dims, ok := dir["Dimensions"].([]any)
		if !ok {
			return nil, fmt.Errorf("directive %d: Dimensions missing", i)
		}
		for j, set := range dims {
			keys, ok := set.([]any)
			if !ok || len(keys) > 30 {
				return nil, fmt.Errorf("directive %d: dimension set %d is not an array of at most 30 keys", i, j)
			}
			for _, k := range keys {
				name, _ := k.(string)
				if v, ok := doc[name].(string); !ok || v == "" || len(v) > 1024 {
					return nil, fmt.Errorf("dimension %q has no non-empty string value at the root", name)
				}
			}
		}
		metrics, ok := dir["Metrics"].([]any)
		if !ok || len(metrics) == 0 || len(metrics) > 100 {
			return nil, fmt.Errorf("directive %d: Metrics must hold 1 to 100 definitions", i)
		}
		for _, m := range metrics {
			def, _ := m.(map[string]any)
			name, _ := def["Name"].(string)
			unit, _ := def["Unit"].(string)
			if name == "" || len(name) > 1024 {
				return nil, fmt.Errorf("metric definition %v has no valid Name", def)
			}
			if unit != "" && !units[unit] {
				return nil, fmt.Errorf("metric %s: unit %q is not a CloudWatch unit", name, unit)
			}
			if _, ok := doc[name].(json.Number); !ok {
				return nil, fmt.Errorf("metric %s has no numeric value at the root", name)
			}
		}
	}
	return doc, nil
}

// Lines returns the EMF documents among log output, validated.
func Lines(logs string) ([]Doc, error) {
	var out []Doc
	for _, line := range strings.Split(logs, "\n") {
		if !IsEMF([]byte(line)) {
			continue
		}
		d, err := Validate([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("%w in %s", err, line)
		}
		out = append(out, d)
	}
	return out, nil
}
