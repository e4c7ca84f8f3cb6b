package sfmc

import (
	"runtime/debug"
	"strings"
)

// modulePath is the path of this module.
const modulePath = "github.com/sfmc-go/sfmc"

// develVersion is the version of a build that does not record one.
const develVersion = "(devel)"

// Version returns the version of this module in the running program, as
// the go command recorded it in the build (runtime/debug.ReadBuildInfo):
// a release such as "v0.1.0" when the program requires a tagged version,
// a pseudo-version for an untagged commit, or "(devel)" when the build
// does not say (a build of this repository without version control
// information, a module replaced by a directory, a test). The default
// User-Agent carries it.
func Version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return develVersion
	}
	return moduleVersion(info)
}

// moduleVersion returns this module's version in info: the main module's
// when the program is built in this module, else the dependency's (its
// replacement's when it is replaced).
func moduleVersion(info *debug.BuildInfo) string {
	m := &info.Main
	if m.Path != modulePath {
		m = nil
		for _, d := range info.Deps {
			if d.Path == modulePath {
				m = d
				break
			}
		}
	}
	if m != nil && m.Replace != nil {
		m = m.Replace
	}
	if m == nil || m.Version == "" {
		return develVersion
	}
	return m.Version
}

// userAgentVersion is Version as a User-Agent product version: without
// the leading "v", and "devel" for "(devel)" (parentheses would start a
// comment in the header).
func userAgentVersion(v string) string {
	if v == develVersion {
		return "devel"
	}
	return strings.TrimPrefix(v, "v")
}
