#!/usr/bin/env bash
# Stops `make setup` with a clear message when a prerequisite is missing.
set -u
fail() { echo "make setup: $1" >&2; exit 1; }

command -v java >/dev/null || fail "Java 17+ is required: install it (Debian: apt-get install openjdk-17-jdk-headless)"
java_major=$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')
[ "${java_major%%.*}" -ge 17 ] 2>/dev/null || fail "Java 17+ is required, found ${java_major:-unknown}: install openjdk-17-jdk-headless"
command -v javac >/dev/null || fail "a Java 17+ JDK (javac) is required to build the Flink functions: install openjdk-17-jdk-headless"
command -v mvn >/dev/null || fail "Maven is required to resolve the Kafka and Flink connector jars: install it (Debian: apt-get install maven)"
python_version=$(${PYTHON:-python3} -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) \
  || fail "Python 3.11 is required: install python3.11"
[ "$python_version" = "3.11" ] || fail "Python 3.11 is required (apache-flink 2.2 wheels), found $python_version; set PYTHON=python3.11"
command -v prometheus-alertmanager >/dev/null \
  || fail "Alertmanager is required by the alert tests and \`crossings services up\`: install it (Debian: apt-get install prometheus-alertmanager)"
command -v prometheus >/dev/null \
  || fail "Prometheus is required by the metrics tests and \`crossings services up\`: install it (Debian: apt-get install prometheus)"
command -v promtool >/dev/null \
  || fail "promtool is required by the tests of deploy/prometheus/rules/: install Debian's prometheus (apt-get install prometheus)"
