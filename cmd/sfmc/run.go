package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Exit codes of the command.
const (
	exitOK     = 0 // all good
	exitFailed = 1 // some records failed or were not sent, validation found problems, interrupted
	exitUsage  = 2 // usage, configuration or authentication error (found before anything was sent)
)

// env is what a command may use of the process: the environment, the
// standard streams, and the second stop signal. Tests fill it with fakes.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// hard is done when the command must stop at once (a second Ctrl-C,
	// or SIGTERM); its cause says which. The command's ctx is done at the
	// first interrupt. nil: never.
	hard context.Context
	// terminal reports whether a standard stream is a terminal (nil:
	// isTerminal). Tests fake it.
	terminal func(any) bool
	// flagsOnly, when set, receives the command's flag set instead of the
	// command running: parseFlags hands it over and the command returns.
	// It lists the flags for completion and documentation checks.
	flagsOnly func(*flag.FlagSet)
}

// isTerm reports whether stream (one of e's) is a terminal.
func (e *env) isTerm(stream any) bool {
	if e.terminal != nil {
		return e.terminal(stream)
	}
	return isTerminal(stream)
}

// command is one sub-command of sfmc.
type command struct {
	name    string
	summary string // one line for the command list
	usage   string // synopsis, description and example, printed by --help
	run     func(ctx context.Context, e *env, args []string) int
}

func commands() []command {
	return []command{
		{"demo", "push sample profiles to an in-process simulator (no credentials)", demoUsage, runDemo},
		{"simulator", "serve the SFMC simulator, to try the commands without a tenant", simulatorUsage, runSimulator},
		{"verify", "get a token and print the REST URL", verifyUsage, runVerify},
		{"attributes", "list attribute-set definitions (first page unless --all)", attributesUsage, runAttributes},
		{"validate", "check a mapping file against the tenant's attributes", validateUsage, runValidate},
		{"push", "upsert NDJSON or CSV profiles as contacts", pushUsage, runPush},
		{"version", "print the version, VCS revision and Go version", versionUsage, runVersion},
		{"completion", "print a shell completion script (bash, zsh or fish)", completionUsage, runCompletion},
	}
}

// run is the whole program: it parses args, runs the command and returns
// the exit code. getenv reads the environment (os.Getenv in main).
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runEnv(ctx, &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}, args)
}

// runEnv is run with a whole env. A command interrupted (ctx done) exits 1
// at least, whatever error the interrupt caused: 2 says that something
// must be fixed, an interrupt does not.
func runEnv(ctx context.Context, e *env, args []string) int {
	if e.hard == nil {
		e.hard = context.Background()
	}
	// A stop at once is an interrupt too.
	ctx, interrupt := context.WithCancelCause(ctx)
	defer interrupt(nil)
	stop := context.AfterFunc(e.hard, func() { interrupt(context.Cause(e.hard)) })
	defer stop()
	code := dispatch(ctx, e, args)
	if code == exitUsage && ctx.Err() != nil {
		code = exitFailed
	}
	return code
}

func dispatch(ctx context.Context, e *env, args []string) int {
	stdout, stderr := e.stdout, e.stderr
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && name == "help" && !strings.HasPrefix(args[1], "-") {
			c, ok := findCommand(args[1])
			if !ok {
				return unknownCommand(e, args[1])
			}
			return c.run(ctx, e, []string{"--help"})
		}
		printUsage(stdout)
		return exitOK
	case "-version", "--version":
		return runVersion(ctx, e, args[1:])
	}
	if strings.HasPrefix(name, "-") {
		fmt.Fprintf(stderr, "sfmc: unknown flag %s: flags go after the command (sfmc COMMAND [flags])\n%s", name, hintRoot)
		return exitUsage
	}
	c, ok := findCommand(name)
	if !ok {
		return unknownCommand(e, name)
	}
	return c.run(ctx, e, args[1:])
}

// hintRoot ends a usage error of sfmc itself.
const hintRoot = "Run 'sfmc --help' for usage.\n"

// unknownCommand says that name is no command, suggests the nearest ones,
// and returns the usage exit code. It prints a few lines, not the whole
// usage, so that the error stays on the screen.
func unknownCommand(e *env, name string) int {
	fmt.Fprintf(e.stderr, "sfmc: unknown command %q\n", name)
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	names = append(names, "help")
	if s := suggest(name, names); len(s) > 0 {
		fmt.Fprintln(e.stderr, "\nDid you mean this?")
		for _, n := range s {
			fmt.Fprintln(e.stderr, "\t"+n)
		}
		fmt.Fprintln(e.stderr)
	}
	fmt.Fprint(e.stderr, hintRoot)
	return exitUsage
}

// suggest returns the candidates near name: a prefix of it or it of them,
// or within two edits (as cobra suggests commands), nearest first.
func suggest(name string, candidates []string) []string {
	type near struct {
		name string
		dist int
	}
	var found []near
	lower := strings.ToLower(name)
	for _, c := range candidates {
		d := editDistance(lower, strings.ToLower(c))
		switch {
		case d <= 2:
		case len(lower) >= 2 && (strings.HasPrefix(c, lower) || strings.HasPrefix(lower, c)):
			d = 3
		default:
			continue
		}
		found = append(found, near{c, d})
	}
	// Stable insertion sort by distance: the lists are short.
	for i := 1; i < len(found); i++ {
		for j := i; j > 0 && found[j].dist < found[j-1].dist; j-- {
			found[j], found[j-1] = found[j-1], found[j]
		}
	}
	out := make([]string, len(found))
	for i, f := range found {
		out[i] = f.name
	}
	return out
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func findCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `sfmc upserts profiles into Salesforce Marketing Cloud contacts, as Adobe
Experience Platform's SFMC streaming destination does.

Usage: sfmc COMMAND [flags]

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	fmt.Fprintf(tw, "  %s\t%s\n", "help", "print this text, or a command's usage (sfmc help push)")
	tw.Flush()
	fmt.Fprint(w, `
Credentials come from the environment: SFMC_SUBDOMAIN, SFMC_CLIENT_ID,
SFMC_CLIENT_SECRET (required), SFMC_ACCOUNT_ID, SFMC_SCOPE (optional),
SFMC_AUTH_URL, SFMC_REST_URL (endpoint overrides); SFMC_LOG_LEVEL and
SFMC_LOG_FORMAT are the defaults of --log-level and --log-format.

Exit codes: 0 all good; 1 some records failed or were not sent, validation
found problems, or the command was interrupted; 2 usage, configuration or
authentication error (push: found before anything was sent).

Ctrl-C stops a command; push then lets the contacts already accepted finish
(--drain-timeout), and a second Ctrl-C, or SIGTERM, stops it at once.

Try it without a tenant:
  sfmc demo
`)
}

// parseFlags parses args with fs for the command whose usage text is
// usage. It returns (done, code): done is true when the command must
// return code at once: --help (the usage and the flags, once, on stdout,
// exit 0), a bad flag or unexpected positional arguments (the error and a
// one-line hint on stderr, exit 2: the error stays on the screen).
func parseFlags(fs *flag.FlagSet, e *env, usage string, args []string) (bool, int) {
	if e.flagsOnly != nil {
		e.flagsOnly(fs)
		return true, exitOK
	}
	// The flag package would print its own usage on errors: silence it.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(e.stderr)
	hint := fmt.Sprintf("Run 'sfmc %s --help' for usage.\n", fs.Name())
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeHelp(e.stdout, fs, usage)
			return true, exitOK
		}
		fmt.Fprintf(e.stderr, "sfmc %s: %s\n%s", fs.Name(), flagError(fs, err), hint)
		return true, exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "sfmc %s: unexpected argument %q (every input is a flag)\n%s", fs.Name(), fs.Arg(0), hint)
		return true, exitUsage
	}
	return false, 0
}

// writeHelp prints a command's usage text and its flags.
func writeHelp(w io.Writer, fs *flag.FlagSet, usage string) {
	var b bytes.Buffer
	b.WriteString(usage)
	b.WriteString("\nFlags:\n")
	printFlags(&b, fs)
	_, _ = w.Write(b.Bytes())
}

// flagError rewrites the flag package's error for a person: flags named
// as they are documented (--name), and the nearest flag for an unknown one.
func flagError(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	const undefined = "flag provided but not defined: "
	if name, ok := strings.CutPrefix(msg, undefined); ok {
		name = strings.TrimLeft(name, "-")
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		out := "unknown flag --" + name
		if s := suggest(name, names); len(s) > 0 {
			out += " (did you mean --" + strings.Join(s, ", --") + "?)"
		}
		return out
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return "flag --" + strings.TrimLeft(name, "-") + " needs a value"
	}
	// invalid value "x" for flag -workers: parse error
	if i := strings.Index(msg, " for flag -"); i >= 0 {
		return msg[:i] + " for --" + msg[i+len(" for flag -"):]
	}
	return msg
}

// printFlags prints fs's flags as --name META, each with its usage
// (wrapped to 80 columns) and its default when it is not the zero value.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	const width, maxLeft = 80, 28
	type row struct{ left, text string }
	var rows []row
	left := 0
	fs.VisitAll(func(f *flag.Flag) {
		meta, text := flagMeta(f)
		l := "  --" + f.Name
		if meta != "" {
			l += " " + meta
		}
		if d := f.DefValue; !zeroDefault(d) && !strings.Contains(text, "(default") {
			text += " (default " + d + ")"
		}
		rows = append(rows, row{l, text})
		if len(l) <= maxLeft {
			left = max(left, len(l))
		}
	})
	indent := strings.Repeat(" ", left+2)
	for _, r := range rows {
		lines := wrap(r.text, width-len(indent))
		if len(r.left) > left {
			fmt.Fprintln(w, r.left)
		} else {
			fmt.Fprintf(w, "%-*s  %s\n", left, r.left, lines[0])
			lines = lines[1:]
		}
		for _, l := range lines {
			fmt.Fprintln(w, indent+l)
		}
	}
}

// flagMeta returns the placeholder of a flag's value (the back-quoted word
// of its usage in capitals, or as it is when it lists the choices "a|b";
// else one from its type; "" for a bool) and its usage text.
func flagMeta(f *flag.Flag) (string, string) {
	name, usage := flag.UnquoteUsage(f)
	switch name {
	case "":
		return "", usage
	case "int", "uint", "int64", "uint64":
		return "N", usage
	case "float":
		return "X", usage
	case "duration":
		return "D", usage
	case "string":
		return "S", usage
	case "value":
		return "V", usage
	}
	if strings.Contains(name, "|") {
		// "`a|b`: what it is": the choices are the placeholder only.
		return name, strings.TrimPrefix(usage, name+": ")
	}
	return strings.ToUpper(name), usage
}

// zeroDefault reports whether a flag's default is not worth printing.
func zeroDefault(d string) bool {
	switch d {
	case "", "0", "false", "0s":
		return true
	}
	return false
}

// wrap breaks text into lines of at most width bytes at spaces (a longer
// word gets a line of its own).
func wrap(text string, width int) []string {
	var lines []string
	var cur strings.Builder
	for _, word := range strings.Fields(text) {
		if cur.Len() > 0 && cur.Len()+1+len(word) > width {
			lines = append(lines, cur.String())
			cur.Reset()
		}
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		cur.WriteString(word)
	}
	if cur.Len() > 0 || len(lines) == 0 {
		lines = append(lines, cur.String())
	}
	return lines
}

// errorf prints "sfmc CMD: message" on stderr.
func errorf(e *env, cmd, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(e.stderr, "sfmc %s: %s\n", cmd, strings.TrimRight(msg, "\n"))
}

// usageError prints a usage error of command cmd with the one-line hint
// and returns the usage exit code.
func usageError(e *env, cmd string, err error) int {
	fmt.Fprintf(e.stderr, "sfmc %s: %v\nRun 'sfmc %s --help' for usage.\n", cmd, err, cmd)
	return exitUsage
}
