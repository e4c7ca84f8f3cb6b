package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 14, item 11: sfmc completion prints a script for bash, zsh and
// fish naming every command and flag.
func TestCompletionScripts(t *testing.T) {
	t.Parallel()
	none := func(string) string { return "" }
	for _, shell := range []string{"bash", "zsh", "fish"} {
		r := runCLI(context.Background(), none, "", "completion", shell)
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Empty(t, r.stderr)
		for _, c := range commands() {
			assert.Contains(t, r.stdout, c.name, shell)
			for _, f := range commandFlags(c) {
				if shell == "fish" {
					assert.Contains(t, r.stdout, "-l "+f.Name+" ", "%s: %s --%s", shell, c.name, f.Name)
				} else {
					assert.Contains(t, r.stdout, "--"+f.Name, "%s: %s --%s", shell, c.name, f.Name)
				}
			}
		}
		// A syntax check where the shell is installed.
		if path, err := exec.LookPath(shell); err == nil {
			script := filepath.Join(t.TempDir(), "sfmc."+shell)
			require.NoError(t, os.WriteFile(script, []byte(r.stdout), 0o600))
			out, err := exec.Command(path, "-n", script).CombinedOutput()
			assert.NoError(t, err, "%s -n: %s", shell, out)
		}
	}
	r := runCLI(context.Background(), none, "", "completion")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "name the shell: bash, zsh or fish")
}

// The bash script completes commands, flags and flag values.
func TestCompletionBash(t *testing.T) {
	t.Parallel()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("needs bash")
	}
	r := runCLI(context.Background(), func(string) string { return "" }, "", "completion", "bash")
	require.Equal(t, exitOK, r.code)
	script := filepath.Join(t.TempDir(), "sfmc.bash")
	require.NoError(t, os.WriteFile(script, []byte(r.stdout), 0o600))
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "mapping.json"), nil, 0o600))
	for _, tc := range []struct {
		words []string
		want  string
	}{
		{[]string{"sfmc", "pu"}, "push"},
		{[]string{"sfmc", "v"}, "verify validate version"},
		{[]string{"sfmc", "push", "--for"}, "--format"},
		{[]string{"sfmc", "push", "--format", ""}, "ndjson csv"},
		{[]string{"sfmc", "push", "--progress", "p"}, "plain"},
		{[]string{"sfmc", "validate", "--log-format", ""}, "text json"},
		{[]string{"sfmc", "push", "--mapping", "map"}, "mapping.json"},
		{[]string{"sfmc", "completion", ""}, "bash zsh fish"},
		{[]string{"sfmc", "help", "sim"}, "simulator"},
		{[]string{"sfmc", "push", "--workers", ""}, ""},
	} {
		words := make([]string, len(tc.words))
		for i, w := range tc.words {
			words[i] = "'" + w + "'"
		}
		prog := "source " + script + "; COMP_WORDS=(" + strings.Join(words, " ") + "); COMP_CWORD=" +
			strconv.Itoa(len(tc.words)-1) + `; _sfmc; echo "${COMPREPLY[*]}"`
		cmd := exec.Command(bash, "--norc", "-c", prog)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		assert.Equal(t, tc.want, strings.TrimSpace(string(out)), tc.words)
	}
}

// The fish script completes commands, flags and flag values.
func TestCompletionFish(t *testing.T) {
	t.Parallel()
	fish, err := exec.LookPath("fish")
	if err != nil {
		t.Skip("needs fish")
	}
	r := runCLI(context.Background(), func(string) string { return "" }, "", "completion", "fish")
	require.Equal(t, exitOK, r.code)
	script := filepath.Join(t.TempDir(), "sfmc.fish")
	require.NoError(t, os.WriteFile(script, []byte(r.stdout), 0o600))
	for line, want := range map[string][]string{
		"sfmc pu":                  {"push\tupsert NDJSON or CSV profiles as contacts"},
		"sfmc push --form":         {"--format\tthe input format"},
		"sfmc push --format ":      {"csv\tthe input format", "ndjson\tthe input format"},
		"sfmc completion ":         {"bash", "fish", "zsh"},
		"sfmc simulator --fault-5": {"--fault-500\tthe fraction F of REST requests answered with 500", "--fault-503\tthe fraction F of REST requests answered with 503 with Retry-After"},
	} {
		out, err := exec.Command(fish, "--no-config", "-c", "source "+script+"; complete -C '"+line+"'").CombinedOutput()
		require.NoError(t, err, string(out))
		assert.Equal(t, want, strings.Split(strings.TrimSpace(string(out)), "\n"), line)
	}
}

func TestShortAbout(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "the fraction F of REST requests answered with 500", shortAbout("the fraction F (0 to 1) of REST requests answered with 500"))
	assert.Equal(t, "check a mapping file against the tenant’s attributes", shortAbout("check a mapping file against the tenant's attributes"))
	assert.Equal(t, "the input format", shortAbout("the input format (default: csv for *.csv files, else ndjson)"))
	assert.Equal(t, "the mapping file", shortAbout("the mapping file (JSON; required)"))
	assert.Equal(t, "stop", shortAbout("stop; then [x] `y` $z"))
}
