#!/bin/sh
# Smoke test for a running platform-server.
#
#   ./smoke-test.sh [BASE_URL]          BASE_URL defaults to http://127.0.0.1:7777
#
# Environment:
#   TOKEN           server token (Authorization: Bearer); enables the authenticated checks
#   ADMIN_TOKEN     X-Admin-Token value; enables the /admin checks (needs TOKEN too)
#   SMOKE_SESSIONS  1: require /auth/login and /.well-known/jwks.json; 0: skip them;
#                   auto (default): check them when /auth/login exists (not 404)
#   SMOKE_WAIT      seconds to wait for /health to answer 200 (30)
#   SMOKE_TIMEOUT   seconds per request (10)
#
# Prints one line per check (PASS name / FAIL name: why / SKIP name: why) and exits with
# the number of failures (at most 125). Needs only curl. Tokens are passed to curl on
# stdin, never on its command line, so they do not show up in `ps`.

BASE_URL=${1:-http://127.0.0.1:7777}
BASE_URL=${BASE_URL%/}
TOKEN=${TOKEN:-}
ADMIN_TOKEN=${ADMIN_TOKEN:-}
SMOKE_SESSIONS=${SMOKE_SESSIONS:-auto}
SMOKE_WAIT=${SMOKE_WAIT:-30}
SMOKE_TIMEOUT=${SMOKE_TIMEOUT:-10}

failures=0
nl='
'

pass() { printf 'PASS %s\n' "$1"; }
skip() { printf 'SKIP %s: %s\n' "$1" "$2"; }
fail() {
    printf 'FAIL %s: %s\n' "$1" "$2"
    failures=$((failures + 1))
}

# fetch PATH [HEADER_LINES] [MAX_TIME]: GET BASE_URL/PATH; sets status ("000" when no HTTP
# response arrived), body and rc (curl's exit code).
fetch() {
    if [ -n "${2:-}" ]; then
        out=$(printf '%s\n' "$2" | curl -s -H @- --max-time "${3:-$SMOKE_TIMEOUT}" \
            -w '\n%{http_code}' "$BASE_URL$1")
    else
        out=$(curl -s --max-time "${3:-$SMOKE_TIMEOUT}" -w '\n%{http_code}' "$BASE_URL$1")
    fi
    rc=$?
    status=${out##*"$nl"}
    body=${out%"$nl"*}
    [ -n "$status" ] || status=000
}

# What came back, for FAIL lines.
got() {
    if [ "$status" = 000 ]; then
        printf 'no HTTP response (curl exit %s)' "$rc"
    else
        printf 'HTTP %s, body: %.120s' "$status" "$(printf '%s' "$body" | tr '\n' ' ')"
    fi
}

# expect NAME STATUS [TEXT] [HINT]: the last fetch answered STATUS with TEXT in the body.
expect() {
    if [ "$status" != "$2" ]; then
        fail "$1" "expected HTTP $2, got $(got)${4:+ ($4)}"
    elif [ -n "${3:-}" ]; then
        case $body in
            *"$3"*) pass "$1" ;;
            *) fail "$1" "expected $3 in the body, got $(got)" ;;
        esac
    else
        pass "$1"
    fi
}

bearer=${TOKEN:+"Authorization: Bearer $TOKEN"}

# --- wait for /health ----------------------------------------------------------------------
start=$(date +%s)
while :; do
    fetch /health '' 2
    [ "$status" = 200 ] && break
    [ $(($(date +%s) - start)) -ge "$SMOKE_WAIT" ] && break
    sleep 1
done
if [ "$status" = 000 ]; then
    fail health "$BASE_URL/health did not answer within ${SMOKE_WAIT}s: $(got)"
    exit 1
fi

# --- health --------------------------------------------------------------------------------
if [ "$status" = 200 ] && [ "$body" = '"OK"' ]; then
    pass health
else
    fail health "expected HTTP 200 with body \"OK\", got $(got)"
fi

fetch /ping
if [ "$status" = 200 ]; then
    case $body in
        *'"status":"healthy"'*'"timestamp":"'* | *'"timestamp":"'*'"status":"healthy"'*)
            pass ping ;;
        *) fail ping "expected \"status\":\"healthy\" and a timestamp, got $(got)" ;;
    esac
else
    fail ping "expected HTTP 200, got $(got)"
fi

# --- authentication ------------------------------------------------------------------------
fetch /api/me
expect api-me-without-token 401 '' 'is AUTH_PROVIDER none or local?'

if [ -n "$TOKEN" ]; then
    fetch /api/me "$bearer"
    expect api-me-with-token 200
else
    skip api-me-with-token 'TOKEN not set'
fi

# Auth runs before the admin check, so both requests carry the bearer token: without it the
# answer would be 401 whatever the admin token.
if [ -z "$ADMIN_TOKEN" ]; then
    skip admin-without-admin-token 'ADMIN_TOKEN not set'
    skip admin-with-admin-token 'ADMIN_TOKEN not set'
elif [ -z "$TOKEN" ]; then
    skip admin-without-admin-token 'TOKEN not set (auth runs before the admin check)'
    skip admin-with-admin-token 'TOKEN not set (auth runs before the admin check)'
else
    fetch /admin/status "$bearer"
    expect admin-without-admin-token 403
    fetch /admin/status "$bearer$nl""X-Admin-Token: $ADMIN_TOKEN"
    expect admin-with-admin-token 200
fi

# --- browser sessions ----------------------------------------------------------------------
case $SMOKE_SESSIONS in
    0 | no | false) sessions=0 ;;
    1 | yes | true) sessions=1 ;;
    *) sessions=auto ;;
esac
if [ "$sessions" = 0 ]; then
    skip auth-login-form 'SMOKE_SESSIONS=0'
    skip jwks 'SMOKE_SESSIONS=0'
else
    # The anonymous request is both the probe and the check (/auth/* is rate limited).
    fetch /auth/login 'Accept: text/html'
    present=yes
    if [ "$sessions" = auto ]; then
        if [ "$status" = 404 ]; then
            present=no
        elif [ "$status" = 401 ]; then
            # Authentication runs before routing, so an unknown path answers 401 to an
            # anonymous client; with the token, a missing route is a 404.
            if [ -n "$TOKEN" ]; then
                s=$status b=$body r=$rc
                fetch /auth/login "$bearer${nl}Accept: text/html"
                case $status in
                    404) present=no ;;
                    401) present=unknown ;; # the token itself was refused
                esac
                status=$s body=$b rc=$r
            else
                present=unknown
            fi
        fi
    fi
    case $present in
        no)
            why='this build has no /auth/login (browser sessions); SMOKE_SESSIONS=1 requires them'
            skip auth-login-form "$why"
            skip jwks "$why"
            ;;
        unknown)
            why='/auth/login answers 401: absent or not public; a valid TOKEN tells, or set SMOKE_SESSIONS=1'
            skip auth-login-form "$why"
            skip jwks "$why"
            ;;
        *)
            hint=
            [ "$status" = 401 ] && hint='the login page must be reachable without credentials'
            expect auth-login-form 200 '<form' "$hint"
            fetch /.well-known/jwks.json
            expect jwks 200 '"keys"'
            ;;
    esac
fi

[ "$failures" -gt 125 ] && failures=125
exit "$failures"
