package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/sfmc-go/sfmc"
)

const versionUsage = `Usage: sfmc version [--json]

Prints the version of this sfmc binary as the go command recorded it when
it built it (runtime/debug.ReadBuildInfo, no hand-kept number): the module
version (a tag such as v0.1.0 for "go install
github.com/sfmc-go/sfmc/cmd/sfmc@v0.1.0", a pseudo-version for an untagged
commit, "(devel)" for a build from a clone that does not record it), the
VCS revision and commit time it was built from ("modified" when the work
tree had changes), and the Go version and platform. "sfmc --version"
prints the same. The User-Agent sent to SFMC carries the same version
(sfmc-cli/0.1.0).

--json prints {"version","revision","time","modified","go","platform"}
("revision" and "time" are "" when the build did not record them).

Example:
  sfmc version
`

// versionInfo is what sfmc version prints.
type versionInfo struct {
	Version  string `json:"version"`  // module version, or "(devel)"
	Revision string `json:"revision"` // VCS revision ("" when not recorded)
	Time     string `json:"time"`     // VCS commit time, RFC 3339 ("" when not recorded)
	Modified bool   `json:"modified"` // the work tree had changes
	Go       string `json:"go"`       // Go version that built the binary
	Platform string `json:"platform"` // GOOS/GOARCH
}

// buildVersion returns the running binary's versionInfo.
func buildVersion() versionInfo {
	v := versionInfo{Version: sfmc.Version(), Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		v = versionFrom(info)
	}
	return v
}

// versionFrom reads a versionInfo from build information.
func versionFrom(info *debug.BuildInfo) versionInfo {
	v := versionInfo{Version: info.Main.Version, Go: info.GoVersion, Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	var goos, goarch string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		}
	}
	if goos != "" && goarch != "" {
		v.Platform = goos + "/" + goarch
	}
	return v
}

// String is the text sfmc version prints.
func (v versionInfo) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sfmc version %s\n", v.Version)
	switch {
	case v.Revision == "":
		b.WriteString("revision: not recorded (built without version control information)\n")
	default:
		fmt.Fprintf(&b, "revision: %s", v.Revision)
		var extra []string
		if v.Time != "" {
			extra = append(extra, v.Time)
		}
		if v.Modified {
			extra = append(extra, "modified")
		}
		if len(extra) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(extra, ", "))
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "go: %s %s\n", v.Go, v.Platform)
	return b.String()
}

// userAgent identifies the command-line tool to SFMC: sfmc-cli/ and the
// module version without its "v" ("devel" when the build recorded none).
func userAgent() string {
	v := sfmc.Version()
	if v == "(devel)" {
		v = "devel"
	}
	return "sfmc-cli/" + strings.TrimPrefix(v, "v")
}

func runVersion(_ context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print one JSON document on stdout")
	if done, code := parseFlags(fs, e, versionUsage, args); done {
		return code
	}
	v := buildVersion()
	if *asJSON {
		if err := json.NewEncoder(e.stdout).Encode(v); err != nil {
			return fail(e, "version", err)
		}
		return exitOK
	}
	fmt.Fprint(e.stdout, v)
	return exitOK
}
