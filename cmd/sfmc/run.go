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
		{"demo", "push generated profiles to an in-process simulator and check the result (no credentials)", demoUsage, runDemo},
		{"simulator", "serve the SFMC simulator as a process, to try the other commands without a tenant", simulatorUsage, runSimulator},
		{"verify", "get a token and print the REST URL", verifyUsage, runVerify},
		{"attributes", "list attribute-set definitions (first page unless --all)", attributesUsage, runAttributes},
		{"validate", "check a mapping file against the tenant's attributes", validateUsage, runValidate},
		{"push", "upsert NDJSON profiles as contacts", pushUsage, runPush},
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
		if len(args) > 1 && name == "help" {
			if c, ok := findCommand(args[1]); ok {
				fmt.Fprint(stdout, c.usage)
				return exitOK
			}
			fmt.Fprintf(stderr, "sfmc: unknown command %q\n\n", args[1])
			printUsage(stderr)
			return exitUsage
		}
		printUsage(stdout)
		return exitOK
	}
	c, ok := findCommand(name)
	if !ok {
		fmt.Fprintf(stderr, "sfmc: unknown command %q\n\n", name)
		printUsage(stderr)
		return exitUsage
	}
	return c.run(ctx, e, args[1:])
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
SFMC_AUTH_URL, SFMC_REST_URL (endpoint overrides).

Exit codes: 0 all good; 1 some records failed or were not sent, validation
found problems, or the command was interrupted; 2 usage, configuration or
authentication error (push: found before anything was sent).

Ctrl-C stops a command; push then lets the contacts already accepted finish
(--drain-timeout), and a second Ctrl-C, or SIGTERM, stops it at once.

Try it without a tenant:
  sfmc demo
`)
}

// parseFlags parses args with fs (whose usage prints usage). It returns
// (done, code): done is true when the command must return code at once
// (--help, a bad flag, or unexpected positional arguments).
func parseFlags(fs *flag.FlagSet, e *env, usage string, args []string) (bool, int) {
	// The flag package prints the usage itself, for --help too: keep what
	// it prints, so that --help prints the usage once, on stdout.
	var parseOut bytes.Buffer
	fs.SetOutput(&parseOut)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
	err := fs.Parse(args)
	fs.SetOutput(e.stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(e.stdout)
			fs.Usage()
			return true, exitOK
		}
		_, _ = e.stderr.Write(parseOut.Bytes()) // the error and the usage
		return true, exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "sfmc %s: unexpected argument %q (every input is a flag)\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return true, exitUsage
	}
	return false, 0
}

// errorf prints "sfmc CMD: message" on stderr.
func errorf(e *env, cmd, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(e.stderr, "sfmc %s: %s\n", cmd, strings.TrimRight(msg, "\n"))
}
