package plan

import (
	"fmt"
	"slices"
)

// fieldParser reads JSON-shaped values (as found in unstructured objects)
// with type checks, collecting a problem per bad field instead of stopping at
// the first. Every accessor tolerates a nil map and returns a zero value on a
// problem, so parsing can carry on and never panics.
type fieldParser struct {
	problems []string
}

func (p *fieldParser) addf(path, format string, args ...any) {
	p.problems = append(p.problems, path+": "+fmt.Sprintf(format, args...))
}

// object returns m[key] as an object; nil when absent or null.
func (p *fieldParser) object(m map[string]any, key, path string) map[string]any {
	switch v := m[key].(type) {
	case nil:
		return nil
	case map[string]any:
		return v
	default:
		p.addf(path, "must be an object, not %s", jsonKind(v))
		return nil
	}
}

// str returns m[key] as a string; "" when absent or null.
func (p *fieldParser) str(m map[string]any, key, path string) string {
	switch v := m[key].(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		p.addf(path, "must be a string, not %s", jsonKind(v))
		return ""
	}
}

// requiredStr is str for a field that must be a non-empty string.
func (p *fieldParser) requiredStr(m map[string]any, key, path string) string {
	v := p.str(m, key, path)
	if isUnset(m[key]) {
		p.addf(path, "is required")
	}
	return v
}

// isUnset reports an absent, null or empty-string value: a required field
// whose value has the wrong type is reported as such, not as missing.
func isUnset(v any) bool { return v == nil || v == "" }

// strList returns m[key] as a list of strings, dropping empty entries
// (an empty key would match nothing anyway).
func (p *fieldParser) strList(m map[string]any, key, path string) []string {
	var out []string
	switch v := m[key].(type) {
	case nil:
	case []any:
		for i, item := range v {
			s, ok := item.(string)
			if !ok {
				p.addf(fmt.Sprintf("%s[%d]", path, i), "must be a string, not %s", jsonKind(item))
				continue
			}
			if s != "" {
				out = append(out, s)
			}
		}
	default:
		p.addf(path, "must be a list of strings, not %s", jsonKind(v))
	}
	return out
}

// onlyKeys reports keys of m outside allowed: a misspelt selector field would
// otherwise silently select something other than what the author meant.
func (p *fieldParser) onlyKeys(m map[string]any, path string, allowed ...string) {
	var unknown []string
	for k := range m {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		p.addf(path, "unknown field %q", k)
	}
}

// hasField reports whether a nested field is present and not null.
func hasField(m map[string]any, fields ...string) bool {
	var v any = m
	for _, f := range fields {
		obj, ok := v.(map[string]any)
		if !ok {
			return false
		}
		v = obj[f]
	}
	return v != nil
}

// jsonKind names a value's JSON type for error messages.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int32, int64, float32, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	default:
		return fmt.Sprintf("a %T", v)
	}
}
