// Package intern makes the strings the informer caches hold share one copy
// each. A decoded object owns a copy of every string in it, yet most of them
// repeat across thousands of objects: label and annotation keys, namespaces,
// the ownership values, and on the local side a mirror's name and fq-name
// annotation on its Service, Endpoints and slices, and the remote
// annotations a mirror copies. Interned through the standard library's
// unique package, a string is held once while anything refers to it and
// freed after; nothing here grows without bound.
package intern

import "unique"

// String returns the canonical copy of s.
func String(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

// Map returns m with every key and value interned; nil stays nil.
func Map(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[String(k)] = String(v)
	}
	return out
}
