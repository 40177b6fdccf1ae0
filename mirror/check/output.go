package check

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// Output formats.
const (
	FormatTable = "table"
	FormatJSON  = "json"
)

// Write prints the report in format: FormatTable, aligned columns CHECK,
// RESULT and DETAIL for people, with what to do after the detail of a
// warning or failure; or FormatJSON, the Report as one JSON object for
// machines:
//
//	{"link": "<namespace>/<name>", "passed": true|false,
//	 "checks": [{"name": "link-crd", "result": "ok|warn|fail|skipped",
//	             "detail": "...", "fix": "..."}, ...]}
//
// with the checks in the order of Names and "fix" only on warnings and
// failures. Fields are only ever added to this shape.
func Write(w io.Writer, r Report, format string) error {
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case FormatTable:
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "CHECK\tRESULT\tDETAIL")
		for _, c := range r.Checks {
			detail := c.Detail
			if c.Fix != "" {
				detail += " => " + c.Fix
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, c.Verdict, detail)
		}
		return tw.Flush()
	default:
		return fmt.Errorf("unknown output format %q (want %s or %s)", format, FormatTable, FormatJSON)
	}
}
