# shellcheck shell=bash
# Shared by tests/render-check/run and tests/render-check/health-check: the minimal main
# configurations that load a rendered site file the way the distribution's own main config does
# (nginx: inside http {}; Apache: with the modules a fresh Ubuntu apache2 enables plus the ones
# the user data enables), with every path the server writes kept under a temporary directory.

# nginx, apache2 and php-fpm live in /usr/sbin, which a user's PATH may lack.
PATH=$PATH:/usr/sbin:/sbin

# Debian's python3 (PyYAML, jsonschema and cloud-init are its packages), else whatever python3.
if [[ -x /usr/bin/python3 ]]; then PY=/usr/bin/python3; else PY=python3; fi

# The distribution a variant is for: ubuntu, debian or al2023, from expect.json's `os`
# (ubuntu-24.04, debian-12, amazon-linux-2023), else from its PHP-FPM socket
# (/run/php/phpX.Y-fpm.sock: ubuntu; /run/php-fpm/www.sock: al2023).
variant_os() { # EXPECT_JSON
  local os socket
  os=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1])).get("os", ""))' "$1")
  case $os in
    ubuntu-*) echo ubuntu ;;
    debian-*) echo debian ;;
    amazon-linux-*) echo al2023 ;;
    *)
      socket=$(json_get "$1" fpm_socket)
      if [[ $socket == /run/php/php* ]]; then echo ubuntu; else echo al2023; fi
      ;;
  esac
}

json_get() { # FILE KEY
  "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# rewrite_site SITE OUT SERVER PORT [OLD_SOCKET NEW_SOCKET OLD_ROOT NEW_ROOT]: the site config
# with the listen port 80 replaced by PORT and, when given, the PHP-FPM socket and the document
# root replaced; nothing else. Shows the changed lines; fails when a line changed for another
# reason.
rewrite_site() {
  local site=$1 out=$2 server=$3 port=$4 old_socket=${5:-} new_socket=${6:-} old_root=${7:-}
  local new_root=${8:-} text changed line keep=(-e "listen $port" -e "\*:$port>")
  text=$(<"$site")
  if [[ -n $old_socket ]]; then
    text=${text//"unix:$old_socket"/"unix:$new_socket"}
    keep+=(-e "$new_socket")
  fi
  if [[ -n $old_root ]]; then
    text=${text//"$old_root"/"$new_root"}
    keep+=(-e "$new_root")
  fi
  if [[ $server == nginx ]]; then
    text=$(sed -E "s/^( *listen +)80( |;)/\\1$port\\2/" <<<"$text")
  else
    text=${text//"<VirtualHost *:80>"/"<VirtualHost *:$port>"}
  fi
  printf '%s\n' "$text" >"$out"
  changed=$(diff "$site" "$out" | grep '^>')
  echo "    $(grep -c . <<<"$changed") line(s) of $(basename "$site") rewritten for the test:"
  while IFS= read -r line; do echo "     ${line#>}"; done <<<"$changed"
  ! grep -v "${keep[@]}" <<<"$changed"
}

# nginx_main_conf DIR SITE_FILE: DIR/nginx.conf, which includes SITE_FILE in http {} as
# /etc/nginx/nginx.conf includes conf.d/*.conf. The site's relative `include fastcgi_params`
# resolves next to the main file, so that file is linked into DIR.
nginx_main_conf() {
  local d=$1 site=$2
  mkdir -p "$d"
  ln -sf /etc/nginx/fastcgi_params "$d/fastcgi_params"
  # As root, workers run as www-data, as Debian's nginx.conf says (the built-in nobody:nobody
  # has no group on Debian).
  if [[ $(id -u) == 0 ]]; then echo "user www-data;" >"$d/nginx.conf"; else : >"$d/nginx.conf"; fi
  cat >>"$d/nginx.conf" <<EOF
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 64; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log $d/access.log;
    client_body_temp_path $d/client_body;
    fastcgi_temp_path $d/fastcgi;
    proxy_temp_path $d/proxy;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
    include $site;
}
EOF
}

# The modules Debian's and Ubuntu's apache2 package enables on install.
APACHE_DEFAULT_MODULES=(access_compat alias auth_basic authn_core authn_file authz_core
  authz_host authz_user autoindex deflate dir env filter mime mpm_event negotiation reqtimeout
  setenvif status)

# apache_modules MODULE...: the LoadModule lines (and each module's Debian .conf) for MODULES and
# what they depend on, as a2enmod would enable them.
apache_modules() {
  local -A seen=()
  local queue=("$@") m dep
  while ((${#queue[@]})); do
    m=${queue[0]}
    queue=("${queue[@]:1}")
    [[ -n ${seen[$m]:-} ]] && continue
    seen[$m]=1
    if [[ ! -f /etc/apache2/mods-available/$m.load ]]; then
      echo "# unknown module $m (no /etc/apache2/mods-available/$m.load)"
      continue
    fi
    for dep in $(sed -n 's/^# *Depends: *//p' "/etc/apache2/mods-available/$m.load" | tr ',' ' '); do
      queue+=("$dep")
    done
  done
  # Dependencies first: load in a stable order with mpm first, then sorted.
  for m in $(printf '%s\n' "${!seen[@]}" | sort); do
    [[ -f /etc/apache2/mods-available/$m.load ]] || continue
    grep -h '^LoadModule' "/etc/apache2/mods-available/$m.load"
  done
  for m in $(printf '%s\n' "${!seen[@]}" | sort); do
    [[ -f /etc/apache2/mods-available/$m.conf ]] && echo "Include /etc/apache2/mods-available/$m.conf"
  done
  return 0
}

# apache_main_conf DIR SITE_FILE LISTEN OS USER_DATA: DIR/apache2.conf, which includes SITE_FILE.
# Modules: Debian's and Ubuntu's defaults plus what the user data's a2enmod lines enable
# (Ubuntu, Debian), or plus headers, proxy and proxy_fcgi, which Amazon Linux's httpd loads by
# default.
apache_main_conf() {
  local d=$1 site=$2 listen=$3 os=$4 userdata=$5 mods
  mkdir -p "$d"
  mods=("${APACHE_DEFAULT_MODULES[@]}")
  if [[ $os == ubuntu || $os == debian ]]; then
    mapfile -t -O "${#mods[@]}" mods < <("$PY" "$RENDER_CHECK_DIR/userdata.py" a2enmod "$userdata")
  else
    mods+=(headers proxy proxy_fcgi)
  fi
  {
    echo "ServerRoot $d"
    echo "ServerName render-check.invalid"
    echo "PidFile $d/apache2.pid"
    echo "ErrorLog $d/error.log"
    echo "LogLevel warn"
    echo "DefaultRuntimeDir $d"
    echo "Mutex file:$d default"
    echo "Listen $listen"
    apache_modules "${mods[@]}"
    if [[ $(id -u) == 0 ]]; then
      echo "User www-data"
      echo "Group www-data"
    fi
    echo "Include $site"
  } >"$d/apache2.conf"
}

# The Apache binary: apache2 on Debian.
apache_bin() {
  if command -v apache2 >/dev/null; then command -v apache2; else echo /usr/sbin/apache2; fi
}
