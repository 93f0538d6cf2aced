#!/usr/bin/env bash
# Vendors GraphiQL's browser files into crates/server/assets/graphiql/, where the server
# embeds them at build time (crates/server/src/http/graphiql.rs), so the GraphiQL page
# works offline and behind firewalls. Files are copied byte for byte from the npm packages
# (`npm pack` from the npm registry) at the pinned versions below; each package's LICENSE
# (MIT) goes beside them, and VENDORED.md records versions, source paths and sha256.
#
# To upgrade: change a version here, run this script, update the file names in graphiql.rs
# (they carry the version, so browsers never reuse a stale cached copy), and run the
# browser test (tests/browser). Needs Node.js with npm and network access to the registry.
set -euo pipefail
cd "$(dirname "$0")/.."

GRAPHIQL=3.9.0
REACT=18.3.1
REACT_DOM=18.3.1

out=crates/server/assets/graphiql
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT_DOM" >/dev/null)
for pkg in "graphiql-$GRAPHIQL" "react-$REACT" "react-dom-$REACT_DOM"; do
  mkdir -p "$work/$pkg"
  tar xzf "$work/$pkg.tgz" -C "$work/$pkg"
done

rm -rf "$out"
mkdir -p "$out"
# package, version, path inside the package, vendored name (the version is in the name).
files=(
  "graphiql $GRAPHIQL graphiql.min.js graphiql-$GRAPHIQL.min.js"
  "graphiql $GRAPHIQL graphiql.min.css graphiql-$GRAPHIQL.min.css"
  "react $REACT umd/react.production.min.js react-$REACT.production.min.js"
  "react-dom $REACT_DOM umd/react-dom.production.min.js react-dom-$REACT_DOM.production.min.js"
  "graphiql $GRAPHIQL LICENSE LICENSE-graphiql.txt"
  "react $REACT LICENSE LICENSE-react.txt"
  "react-dom $REACT_DOM LICENSE LICENSE-react-dom.txt"
)
{
  echo "# Vendored GraphiQL assets"
  echo
  echo "Written by \`scripts/vendor-graphiql.sh\`; do not edit by hand. The server embeds these"
  echo "files (\`crates/server/src/http/graphiql.rs\`) and serves them at \`/graphiql/assets/<name>\`."
  echo "All three packages are MIT licensed; their LICENSE files are the \`LICENSE-*.txt\` here."
  echo
  echo "| file | npm package | path in the package | sha256 |"
  echo "|---|---|---|---|"
  for line in "${files[@]}"; do
    read -r pkg version src name <<<"$line"
    cp "$work/$pkg-$version/package/$src" "$out/$name"
    sum=$(sha256sum "$out/$name" | cut -d' ' -f1)
    echo "| \`$name\` | \`$pkg@$version\` | \`$src\` | \`$sum\` |"
  done
} >"$out/VENDORED.md"
echo "vendored into $out:"
ls -l "$out"
