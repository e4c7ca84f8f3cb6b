package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// summary is the result of a push, printed at the end. Its JSON form has
// the original keys (read, upserted, failed, segments, requests, retries,
// throttled) and more, all listed in README.
//
// Accounting: every line read that holds a record (blank lines excluded)
// ends up in exactly one of Upserted, Failed and NotSent, so Read ==
// Upserted + Failed + NotSent; the failed and not-sent ones are the
// records of the failures file.
type summary struct {
	Read      int64                     `json:"read"`      // input lines holding a record, read in full
	Upserted  int64                     `json:"upserted"`  // records SFMC accepted
	Failed    int64                     `json:"failed"`    // record errors, and contacts SFMC refused or did not answer
	Segments  map[string]*segmentCounts `json:"segments"`  // per mapped segment, over upserted records
	Requests  int64                     `json:"requests"`  // HTTP requests sent for contacts
	Retries   int64                     `json:"retries"`   // requests beyond the first for a contact
	Throttled int64                     `json:"throttled"` // 429 answers

	NotSent     int64 `json:"notSent"`     // records read but never sent (interrupt, a stop): replay them
	Interrupted bool  `json:"interrupted"` // Ctrl-C or SIGTERM arrived before the end
	// StopReason says why the run stopped before it had read the whole
	// input and settled every record (null when it did not).
	StopReason *string `json:"stopReason"`
	// ResumeLine is the first input line not accounted for: every line
	// before it is upserted or in the failures file. Null when every line
	// of the input is accounted for.
	ResumeLine     *int64  `json:"resumeLine"`
	ElapsedSeconds float64 `json:"elapsedSeconds"`
	// FailuresFile is the failures file's path; FailuresWritten the
	// records in it (Failed + NotSent unless writing it failed).
	FailuresFile    string `json:"failuresFile"`
	FailuresWritten int64  `json:"failuresWritten"`
	// Rate is the client's pace at the end, in requests per second: the
	// configured --rate, or the pace it found (see sfmc.WithRateLimit).
	Rate float64 `json:"rate"`
	// Warnings are the conditions the run went on through, one sentence
	// each: the mapping's, mapped sources absent from the first records,
	// blocks the client waited out.
	Warnings []string `json:"warnings"`
	// DryRun is true for push --dry-run: nothing was sent, and Upserted
	// counts the records that would have been.
	DryRun bool `json:"dryRun"`
	// Skipped counts the upserted records not sent because the --state
	// file says SFMC holds every value already (part of Upserted: SFMC has
	// them); SkippedAttributes the attribute values left out of requests
	// for that reason, in skipped and sent contacts alike.
	Skipped           int64 `json:"skipped"`
	SkippedAttributes int64 `json:"skippedAttributes"`

	elapsed      time.Duration
	segmentOrder []string // segment ids in mapping order
	mappingIDs   []string // Mapping ID of each segment in segmentOrder
	failuresLost int64    // records that could not be written to the failures file
	authStop     bool     // stopped on credentials, the IP allowlist or a rejected integration (exit 2)
	inputStop    bool     // stopped because the input is not in the format read (exit 2)
	stateFailed  bool     // the --state file failed during the run (exit 1: the next run should be --full)
}

// segmentCounts counts the statuses of one segment among upserted records.
type segmentCounts struct {
	Realized int64 `json:"realized"`
	Existing int64 `json:"existing"`
	Exited   int64 `json:"exited"`
}

// ok reports whether the run was all good (exit code 0).
func (s *summary) ok() bool {
	return s.Failed == 0 && s.NotSent == 0 && !s.Interrupted && s.StopReason == nil && s.failuresLost == 0 && !s.stateFailed
}

// writeJSON prints the summary as one JSON document.
func (s *summary) writeJSON(w io.Writer) error {
	if s.Warnings == nil {
		s.Warnings = []string{}
	}
	return json.NewEncoder(w).Encode(s)
}

// writeHuman prints the summary for a person.
func (s *summary) writeHuman(w io.Writer) {
	for _, msg := range s.Warnings {
		fmt.Fprintln(w, "warning:", msg)
	}
	if s.StopReason != nil {
		fmt.Fprintln(w, "stopped early:", *s.StopReason)
	}
	if s.DryRun {
		fmt.Fprintf(w, "dry run, nothing sent: read %d records: %d would be upserted, %d failed, %d not sent; elapsed %v\n",
			s.Read, s.Upserted, s.Failed, s.NotSent, s.elapsed.Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "read %d records: %d upserted, %d failed, %d not sent (%d requests, %d retries, %d throttled, pace %.0f/s) in %v\n",
			s.Read, s.Upserted, s.Failed, s.NotSent, s.Requests, s.Retries, s.Throttled, s.Rate, s.elapsed.Round(time.Millisecond))
	}
	if s.Skipped > 0 || s.SkippedAttributes > 0 {
		fmt.Fprintf(w, "change-only (--state): %d of the upserted records skipped, %d attribute values left out: SFMC held them already\n",
			s.Skipped, s.SkippedAttributes)
	}
	if s.ResumeLine != nil {
		fmt.Fprintf(w, "not finished: resume the input at line %d (every line before it is upserted or in the failures file)\n", *s.ResumeLine)
	}
	switch {
	case s.FailuresFile == "":
		if s.Failed+s.NotSent > 0 {
			fmt.Fprintf(w, "%d records would fail; give --failures FILE to write them with their errors\n", s.Failed+s.NotSent)
		}
	case s.failuresLost > 0:
		fmt.Fprintf(w, "failures file %s is INCOMPLETE: %d records written, %d could not be written (see above)\n",
			s.FailuresFile, s.FailuresWritten, s.failuresLost)
	case s.FailuresWritten == 0:
		fmt.Fprintf(w, "failures file %s: 0 records (nothing failed)\n", s.FailuresFile)
	default:
		fmt.Fprintf(w, "failures file %s: %d records (%d failed, %d not sent), each with its input line (it holds the profiles' data); "+
			"replay them with: sfmc push --mapping FILE --input %s --failures OTHER-FILE\n",
			s.FailuresFile, s.FailuresWritten, s.Failed, s.NotSent, s.FailuresFile)
	}
}

// writeSegmentTable prints the destination's segment summary: per segment
// its Mapping ID and how many upserted records had each status (nothing
// when the mapping has no segments).
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
