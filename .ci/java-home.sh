# Sourced (POSIX sh) by ./mvnw, ./capmoe and .ci/run: selects a JDK >= 25 or fails clearly.
capmoe_java_major() {
  "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'
}
capmoe_java_ok() {
  [ -n "$1" ] && [ -x "$1/bin/java" ] && [ "$(capmoe_java_major "$1")" -ge 25 ] 2>/dev/null
}
if ! capmoe_java_ok "${JAVA_HOME:-}"; then
  for cand in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*; do
    if capmoe_java_ok "$cand"; then JAVA_HOME="$cand"; break; fi
  done
fi
if ! capmoe_java_ok "${JAVA_HOME:-}"; then
  echo "capmoe needs a JDK 25 or newer (Vector API + FFM); none found. Install Temurin 25 and set JAVA_HOME." >&2
  exit 1
fi
export JAVA_HOME
PATH="$JAVA_HOME/bin:$PATH"
export PATH
