package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// summary is the result of a push, printed at the end. Its JSON form has
// exactly the keys of the contract (design.md §5).
type summary struct {
	Read      int64                     `json:"read"`      // input lines holding a record (blank lines excluded)
	Upserted  int64                     `json:"upserted"`  // records SFMC accepted
	Failed    int64                     `json:"failed"`    // records in the failures file
	Segments  map[string]*segmentCounts `json:"segments"`  // per mapped segment, over upserted records
	Requests  int64                     `json:"requests"`  // HTTP requests sent for contacts
	Retries   int64                     `json:"retries"`   // requests beyond the first for a contact
	Throttled int64                     `json:"throttled"` // 429 answers

	failuresPath string   // the failures file, when Failed > 0
	segmentOrder []string // segment ids in mapping order
	mappingIDs   []string // Mapping ID of each segment in segmentOrder
	interrupted  bool
	problem      string // an error that stopped the run early, if any
}

// segmentCounts counts the statuses of one segment among upserted records.
type segmentCounts struct {
	Realized int64 `json:"realized"`
	Existing int64 `json:"existing"`
	Exited   int64 `json:"exited"`
}

// writeJSON prints the summary as one JSON document.
func (s *summary) writeJSON(w io.Writer) error {
	return json.NewEncoder(w).Encode(s)
}

// writeHuman prints the summary for a person.
func (s *summary) writeHuman(w io.Writer) {
	if s.interrupted {
		fmt.Fprintln(w, "interrupted: stopped reading; records read so far were sent or reported")
	}
	if s.problem != "" {
		fmt.Fprintln(w, "stopped early:", s.problem)
	}
	fmt.Fprintf(w, "read %d records: %d upserted, %d failed (%d requests, %d retries, %d throttled)\n",
		s.Read, s.Upserted, s.Failed, s.Requests, s.Retries, s.Throttled)
	if s.Failed > 0 && s.failuresPath != "" {
		fmt.Fprintf(w, "failures written to %s (one JSON record per line: line, contactKey, error)\n", s.failuresPath)
	}
}

// writeSegmentTable prints the destination's segment summary: per segment
// its Mapping ID and how many upserted records had each status.
func (s *summary) writeSegmentTable(w io.Writer) {
	if len(s.segmentOrder) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEGMENT\tMAPPING ID\tREALIZED\tEXISTING\tEXITED\t")
	for i, id := range s.segmentOrder {
		c := s.Segments[id]
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t\n", id, s.mappingIDs[i], c.Realized, c.Existing, c.Exited)
	}
	tw.Flush()
}
