#!/usr/bin/env bash
# End-to-end checks for a built dmz binary:
#   crates/dmz/tests/run.sh target/<host>/release/dmz
#
# dmz execs its *own* argv[0], so every run sets argv[0] to the program with
# bash's `exec -a PROGRAM DMZ ARGS...`, just as the runtime execveat()s the
# sealed shim with argv = [program, args...].
set -u

# --unstripped: the binary is cargo's standalone build (crates/dmz), which
# keeps the section headers exeseal's build.rs strips from the shim it
# embeds, so the 1 KiB size budget (which is the embedded shim's, written out
# by `exeseal-probe dmz-write`) is not checked.
unstripped=0
if [ "${1:-}" = --unstripped ]; then
    unstripped=1
    shift
fi
if [ $# -ne 1 ] || [ ! -x "$1" ]; then
    echo "usage: $0 [--unstripped] PATH-TO-BUILT-DMZ" >&2
    exit 2
fi
dmz=$(realpath "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1"; shift; printf '      %s\n' "$@"; failed=$((failed + 1)); }

# run ARGV0 ARGS...: runs dmz with that argv; sets $out, $err, $rc.
run() {
    local argv0=$1
    shift
    # The timeout turns a regression into an endless exec loop (see the
    # self-exec checks) into a failure instead of a hang.
    out=$(timeout 10 bash -c 'a=$1; d=$2; shift 2; exec -a "$a" "$d" "$@"' _ "$argv0" "$dmz" "$@" 2>"$tmp/err")
    rc=$?
    err=$(cat "$tmp/err")
}

# expect_error NAME ARGV0 MESSAGE: exec must fail with exit 127, nothing on
# stdout and exactly "exec ARGV0: MESSAGE" on stderr.
expect_error() {
    local name=$1 argv0=$2 msg=$3
    run "$argv0"
    local want="exec $argv0: $msg"
    if [ "$rc" -eq 127 ] && [ -z "$out" ] && [ "$err" = "$want" ]; then
        pass "$name"
    else
        fail "$name" "want rc=127 stderr='$want'" "got  rc=$rc stderr='$err' stdout='$out'"
    fi
}

# 1. argv is passed through.
run /bin/echo hi
if [ "$rc" -eq 0 ] && [ "$out" = hi ] && [ -z "$err" ]; then pass "runs argv: echo hi"
else fail "runs argv: echo hi" "rc=$rc stdout='$out' stderr='$err'"; fi

run /bin/sh -c 'printf "%s|" "$0" "$@"; exit 3' zero 'a b' '' c
if [ "$rc" -eq 3 ] && [ "$out" = "zero|a b||c|" ]; then pass "odd args and exit status preserved"
else fail "odd args and exit status preserved" "rc=$rc stdout='$out' stderr='$err'"; fi

out=$(bash -c 'exec -a /bin/cat "$1" /proc/self/cmdline' _ "$dmz" | tr '\0' '|')
if [ "$out" = "/bin/cat|/proc/self/cmdline|" ]; then pass "argv[0] passed through unchanged"
else fail "argv[0] passed through unchanged" "cmdline='$out'"; fi

# 2. envp is passed through.
out=$(env -i FOO=bar BAZ='x y' bash -c 'exec -a /usr/bin/env "$1"' _ "$dmz" 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && grep -qx 'FOO=bar' <<<"$out" && grep -qx 'BAZ=x y' <<<"$out"; then pass "passes env"
else fail "passes env" "rc=$rc output='$out'"; fi

# 3./4. failures report Go-style errors and exit 127.
expect_error "missing program" /nope "no such file or directory"
printf 'not a program\n' >"$tmp/plain"
chmod 0644 "$tmp/plain"
expect_error "non-executable file" "$tmp/plain" "permission denied"
printf '\x7fELF garbage' >"$tmp/garbage"
chmod 0755 "$tmp/garbage"
expect_error "exec format error" "$tmp/garbage" "exec format error"
expect_error "not a directory" "$tmp/plain/x" "not a directory"
ln -s loop "$tmp/loop"
expect_error "symlink loop" "$tmp/loop" "too many levels of symbolic links"
long=/$(printf 'x%.0s' $(seq 5000))
expect_error "name too long" "$long" "file name too long"

# A program that is the shim itself is refused, not re-executed forever:
# `#!/proc/self/exe` scripts get the kernel to run the shim as their
# interpreter with argv[0] = /proc/self/exe. The timeout turns a regression
# (an endless exec loop) into a failure instead of a hang.
# expect_self_refused NAME ARGV0 REPORTED: exec of ARGV0 ends in 127 with
# "exec REPORTED: too many levels of symbolic links" within 5 s.
expect_self_refused() {
    local name=$1 argv0=$2 reported=$3
    err=$(timeout 5 bash -c 'a=$1; d=$2; exec -a "$a" "$d" arg' _ "$argv0" "$dmz" 2>&1 >/dev/null)
    rc=$?
    local want="exec $reported: too many levels of symbolic links"
    if [ "$rc" -eq 127 ] && [ "$err" = "$want" ]; then pass "$name"
    else fail "$name" "want rc=127 stderr='$want'" "got  rc=$rc stderr='$err'"; fi
}
expect_self_refused "refuses /proc/self/exe" /proc/self/exe /proc/self/exe
printf '#!/proc/self/exe\n' >"$tmp/self.sh"
chmod 0755 "$tmp/self.sh"
expect_self_refused "refuses a #!/proc/self/exe script's interpreter" "$tmp/self.sh" /proc/self/exe
ln -s "$dmz" "$tmp/self-link"
expect_self_refused "refuses a symlink to itself" "$tmp/self-link" "$tmp/self-link"
cp "$dmz" "$tmp/other-copy"
run "$tmp/other-copy"
# Another file with the same bytes is not the shim itself: it runs, and
# (being a dmz with argv[0] = itself) refuses in turn, reporting its path.
if [ "$rc" -eq 127 ] && [ "$err" = "exec $tmp/other-copy: too many levels of symbolic links" ]; then
    pass "a copy of the shim is exec'd, and refuses itself"
else fail "a copy of the shim is exec'd, and refuses itself" "rc=$rc stderr='$err'"; fi

# Every errno, including ones no file setup can provoke, via strace's fault
# injection on dmz's execve (the 2nd execve: the 1st is bash running dmz).
if command -v strace >/dev/null && strace -qq -o /dev/null true 2>/dev/null; then
    bad=()
    while read -r errno want; do
        got=$(strace -qq -o /dev/null -e trace=execve -e inject=execve:error="$errno":when=2 \
            bash -c 'exec -a /bin/true "$1"' _ "$dmz" 2>&1)
        rc=$?
        [ "$rc" -eq 127 ] && [ "$got" = "exec /bin/true: $want" ] || bad+=("errno $errno: rc=$rc '$got'")
    done <<'TABLE'
1 operation not permitted
2 no such file or directory
5 input/output error
7 argument list too long
8 exec format error
12 cannot allocate memory
13 permission denied
14 bad address
20 not a directory
21 is a directory
22 invalid argument
26 text file busy
36 file name too long
40 too many levels of symbolic links
3 errno 3
10 errno 10
11 errno 11
99 errno 99
100 errno 100
130 errno 130
999 errno 999
1000 errno 1000
4095 errno 4095
TABLE
    if [ ${#bad[@]} -eq 0 ]; then pass "error text for every errno (strace injection)"
    else fail "error text for every errno (strace injection)" "${bad[@]}"; fi
else
    echo "SKIP: strace unavailable or not permitted; injected-errno checks skipped"
fi

# 5. size.
size=$(stat -c %s "$dmz")
if [ "$unstripped" = 1 ]; then echo "SKIP: size $size: --unstripped build, the budget is the embedded shim's"
elif [ "$size" -le 1024 ]; then pass "size $size <= 1024 bytes"
else fail "size $size <= 1024 bytes"; fi

# 6. static, no interpreter, nothing writable or executable that shouldn't be.
if command -v readelf >/dev/null; then
    hdr=$(readelf -hlW "$dmz" 2>&1)
    if grep -q 'Type:[[:space:]]*EXEC' <<<"$hdr" && ! grep -Eq 'INTERP|DYNAMIC' <<<"$hdr"; then
        pass "static executable, no interpreter"
    else
        fail "static executable, no interpreter" "$hdr"
    fi
    if grep -Eq 'GNU_STACK.* RW ' <<<"$hdr" && ! grep -Eq 'LOAD.* RW' <<<"$hdr"; then
        pass "non-executable stack, no writable segment"
    else
        fail "non-executable stack, no writable segment" "$hdr"
    fi
else
    echo "SKIP: readelf not found; static/interpreter checks skipped"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
