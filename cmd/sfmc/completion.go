package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

const completionUsage = `Usage: sfmc completion bash|zsh|fish

Prints a script that completes sfmc's commands, their flags, the values of
flags with a fixed set (--format, --progress, --log-level, --log-format)
and file names, for the shell named.

  bash:  source <(sfmc completion bash)       (add it to ~/.bashrc)
  zsh:   sfmc completion zsh > "${fpath[1]}/_sfmc"   (then start a new shell)
  fish:  sfmc completion fish > ~/.config/fish/completions/sfmc.fish

Example:
  source <(sfmc completion bash)
`

func runCompletion(_ context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("completion", flag.ContinueOnError)
	// The shell is the one argument: parse the flags (--help) before it.
	var shell string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		shell, args = args[0], args[1:]
	}
	if done, code := parseFlags(fs, e, completionUsage, args); done {
		return code
	}
	specs := completionSpecs()
	switch shell {
	case "bash":
		writeBash(e.stdout, specs)
	case "zsh":
		writeZsh(e.stdout, specs)
	case "fish":
		writeFish(e.stdout, specs)
	case "":
		return usageError(e, "completion", fmt.Errorf("name the shell: bash, zsh or fish"))
	default:
		return usageError(e, "completion", fmt.Errorf("unknown shell %q: bash, zsh or fish", shell))
	}
	return exitOK
}

// flagSpec is one flag as completion sees it.
type flagSpec struct {
	name    string
	about   string   // first part of its usage
	choices []string // its fixed values, when it has them
	file    bool     // its value is a file
	bool    bool     // it takes no value
}

// commandSpec is one command as completion sees it.
type commandSpec struct {
	name, about string
	flags       []flagSpec
}

// commandFlags returns the flags command c defines, without running it.
func commandFlags(c command) []*flag.Flag {
	var out []*flag.Flag
	e := &env{getenv: func(string) string { return "" }, stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard,
		flagsOnly: func(fs *flag.FlagSet) { fs.VisitAll(func(f *flag.Flag) { out = append(out, f) }) }}
	c.run(context.Background(), e, nil)
	return out
}

// completionSpecs describes every command and its flags.
func completionSpecs() []commandSpec {
	var specs []commandSpec
	for _, c := range commands() {
		cs := commandSpec{name: c.name, about: c.summary}
		for _, f := range commandFlags(c) {
			meta, usage := flagMeta(f)
			fl := flagSpec{name: f.Name, about: shortAbout(usage), bool: meta == ""}
			switch {
			case strings.Contains(meta, "|"):
				fl.choices = strings.Split(meta, "|")
			case meta == "FILE":
				fl.file = true
			}
			cs.flags = append(cs.flags, fl)
		}
		specs = append(specs, cs)
	}
	return append(specs, commandSpec{name: "help", about: "print the usage of sfmc or of a command"})
}

// shortAbout is a usage text for a shell's description: without its
// parentheses, cut at its first ";" or ":", without the characters the
// shells' description syntaxes treat specially.
func shortAbout(usage string) string {
	var b strings.Builder
	depth := 0
	for _, r := range usage {
		switch {
		case r == '(':
			depth++
		case r == ')' && depth > 0:
			depth--
		case depth > 0:
		case r == ';' || r == ':':
			return strings.Join(strings.Fields(b.String()), " ")
		case r == '\'':
			b.WriteRune('’')
		case r == '"' || r == '[' || r == ']' || r == '`' || r == '\\' || r == '$':
		default:
			b.WriteRune(r)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

func commandNames(specs []commandSpec) string {
	names := make([]string, len(specs))
	for i, c := range specs {
		names[i] = c.name
	}
	return strings.Join(names, " ")
}

func writeBash(w io.Writer, specs []commandSpec) {
	fmt.Fprintf(w, `# bash completion for sfmc (sfmc completion bash)
_sfmc() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    COMPREPLY=()
    if [[ $COMP_CWORD -eq 1 ]]; then
        COMPREPLY=($(compgen -W %q -- "$cur"))
        return
    fi
    case ${COMP_WORDS[1]} in
`, commandNames(specs)+" --help --version")
	for _, c := range specs {
		switch c.name {
		case "help":
			fmt.Fprintf(w, "    help) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", commandNames(specs[:len(specs)-1]))
			continue
		case "completion":
			fmt.Fprintf(w, "    completion) [[ $COMP_CWORD -eq 2 ]] && COMPREPLY=($(compgen -W \"bash zsh fish\" -- \"$cur\")) ;;\n")
			continue
		}
		fmt.Fprintf(w, "    %s)\n        case $prev in\n", c.name)
		var names []string
		for _, f := range c.flags {
			names = append(names, "--"+f.name)
			switch {
			case f.choices != nil:
				fmt.Fprintf(w, "        --%s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", f.name, strings.Join(f.choices, " "))
			case f.file:
				fmt.Fprintf(w, "        --%s) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n", f.name)
			case !f.bool:
				fmt.Fprintf(w, "        --%s) return ;;\n", f.name)
			}
		}
		fmt.Fprintf(w, "        esac\n        COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", strings.Join(append(names, "--help"), " "))
	}
	fmt.Fprint(w, `    esac
}
complete -o default -F _sfmc sfmc
`)
}

func writeZsh(w io.Writer, specs []commandSpec) {
	fmt.Fprint(w, `#compdef sfmc
# zsh completion for sfmc (sfmc completion zsh)
_sfmc() {
  local -a commands
  commands=(
`)
	for _, c := range specs {
		fmt.Fprintf(w, "    '%s:%s'\n", c.name, shortAbout(c.about))
	}
	fmt.Fprint(w, `  )
  if (( CURRENT == 2 )); then
    _describe -t commands 'sfmc command' commands
    return
  fi
  shift words
  (( CURRENT-- ))
  case $words[1] in
`)
	for _, c := range specs {
		switch c.name {
		case "help":
			fmt.Fprint(w, "  help) _describe -t commands 'sfmc command' commands ;;\n")
			continue
		case "completion":
			fmt.Fprint(w, "  completion) _values 'shell' bash zsh fish ;;\n")
			continue
		}
		fmt.Fprintf(w, "  %s)\n    _arguments", c.name)
		for _, f := range c.flags {
			spec := fmt.Sprintf("--%s[%s]", f.name, f.about)
			switch {
			case f.choices != nil:
				spec += ":" + f.name + ":(" + strings.Join(f.choices, " ") + ")"
			case f.file:
				spec += ":file:_files"
			case !f.bool:
				spec += ":" + f.name + ": "
			}
			fmt.Fprintf(w, " \\\n      '%s'", spec)
		}
		fmt.Fprint(w, " ;;\n")
	}
	fmt.Fprint(w, `  esac
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _sfmc "$@"
else
  compdef _sfmc sfmc
fi
`)
}

func writeFish(w io.Writer, specs []commandSpec) {
	fmt.Fprint(w, "# fish completion for sfmc (sfmc completion fish)\ncomplete -c sfmc -f\n")
	for _, c := range specs {
		fmt.Fprintf(w, "complete -c sfmc -n __fish_use_subcommand -a %s -d '%s'\n", c.name, shortAbout(c.about))
	}
	for _, c := range specs {
		cond := "'__fish_seen_subcommand_from " + c.name + "'"
		switch c.name {
		case "help":
			fmt.Fprintf(w, "complete -c sfmc -n %s -a '%s'\n", cond, commandNames(specs[:len(specs)-1]))
			continue
		case "completion":
			fmt.Fprintf(w, "complete -c sfmc -n %s -a 'bash zsh fish'\n", cond)
			continue
		}
		for _, f := range c.flags {
			line := fmt.Sprintf("complete -c sfmc -n %s -l %s", cond, f.name)
			switch {
			case f.choices != nil:
				line += " -x -a '" + strings.Join(f.choices, " ") + "'"
			case f.file:
				line += " -r -F"
			case !f.bool:
				line += " -x"
			}
			fmt.Fprintf(w, "%s -d '%s'\n", line, f.about)
		}
	}
}
