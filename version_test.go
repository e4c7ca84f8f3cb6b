package sfmc

import (
	"context"
	"net/http"
	"runtime/debug"
	"testing"

	"github.com/sfmc-go/sfmc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The version comes from the build information, whoever builds the
// module: the main module, a dependency, a replaced one.
func TestModuleVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		info debug.BuildInfo
		want string
	}{
		{"main module, tagged", debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "v0.1.0"}}, "v0.1.0"},
		{"main module, no VCS", debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "(devel)"}}, "(devel)"},
		{"dependency", debug.BuildInfo{Main: debug.Module{Path: "example.com/app", Version: "v1.2.3"},
			Deps: []*debug.Module{{Path: "golang.org/x/oauth2", Version: "v0.38.0"}, {Path: modulePath, Version: "v0.2.1"}}}, "v0.2.1"},
		{"pseudo-version", debug.BuildInfo{Main: debug.Module{Path: "example.com/app"},
			Deps: []*debug.Module{{Path: modulePath, Version: "v0.1.1-0.20260102030405-abcdefabcdef"}}}, "v0.1.1-0.20260102030405-abcdefabcdef"},
		{"replaced by a directory", debug.BuildInfo{Main: debug.Module{Path: "example.com/app"},
			Deps: []*debug.Module{{Path: modulePath, Version: "v0.1.0", Replace: &debug.Module{Path: "../sfmc"}}}}, "(devel)"},
		{"replaced by a fork", debug.BuildInfo{Main: debug.Module{Path: "example.com/app"},
			Deps: []*debug.Module{{Path: modulePath, Version: "v0.1.0", Replace: &debug.Module{Path: "example.com/fork", Version: "v0.1.5"}}}}, "v0.1.5"},
		{"absent", debug.BuildInfo{Main: debug.Module{Path: "example.com/app"}}, "(devel)"},
	} {
		assert.Equal(t, tc.want, moduleVersion(&tc.info), tc.name)
	}
	info, ok := debug.ReadBuildInfo()
	require.True(t, ok)
	assert.Equal(t, moduleVersion(info), Version(), "the running program's")
}

// The default User-Agent carries Version, as a product version.
func TestDefaultUserAgent(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "0.1.0", userAgentVersion("v0.1.0"))
	assert.Equal(t, "devel", userAgentVersion("(devel)"))
	c, mt, _ := newMockClient(t, nil)
	var got string
	mt.RegisterResponder(http.MethodGet, testRESTURL, func(req *http.Request) (*http.Response, error) {
		got = req.Header.Get("User-Agent")
		return testutil.JSONResponse(req, 200, `{}`), nil
	})
	_, err := c.do(context.Background(), request{method: http.MethodGet, path: testPath})
	require.NoError(t, err)
	assert.Equal(t, "sfmc-go/"+userAgentVersion(Version()), got)
	assert.Equal(t, "sfmc-go/devel", got, "a test binary records no module version")
}
