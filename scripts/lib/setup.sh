# shellcheck shell=bash
# Sourced by scripts/test and scripts/demo: the Debian packages the servers and tools need and how
# they are installed, and MLflow's virtual environment. Expects $repo_root (the repository's root).
#
#   install_packages [EXTRA...]   install what is missing of APT_PACKAGES (and EXTRA) as root;
#                                 otherwise print the command to run and exit 1
#   install_mlflow                MLflow $MLFLOW_VERSION in $MLFLOW_VENV (default target/test-tools/)
#   step TEXT                     a progress line on stderr

# MLflow tracking server used by the model-registry tests; pinned for reproducible runs.
MLFLOW_VERSION=3.17.2

# Servers and tools the tests start, plus build dependencies of the workspace (libssh2 needs OpenSSL
# headers and pkg-config for git's SSH transport).
APT_PACKAGES=(
  docker-registry   # OCI registry (distribution 2.8)
  skopeo            # independent OCI client, to cross-check pushed images
  lighttpd          # web server in front of `git http-backend`
  lighttpd-mod-openssl  # TLS for the git server and the HTTPS test proxies
  apache2-utils     # htpasswd
  openssh-server    # sshd serving git over SSH
  openssh-client    # ssh, ssh-keygen
  git
  curl
  openssl
  busybox-static    # the shell and tools of the ModelCar base image
  pkg-config
  libssl-dev        # also libssl.a and libcrypto.a, for the static task-image binaries
  binutils          # readelf: scripts/task-images checks that the binaries need no shared library
  bubblewrap        # runs each task image's tool inside the image's own root, as user 65532:0
  python3-venv      # MLflow's virtual environment
  jq
  mariadb-server-core  # the database under Kubeflow Model Registry (mariadbd, mariadb-install-db)
  mariadb-client-core  # my_print_defaults (needed by mariadb-install-db), the mariadb client
  postgresql        # the registry's other database (initdb, postgres, psql)
  util-linux        # setpriv: PostgreSQL runs as the postgres user when the tests run as root
)

step() { printf '\n==> %s\n' "$*" >&2; }

missing_packages() {
  local package
  for package in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
      printf '%s\n' "$package"
    fi
  done
}

# Installs the missing packages of APT_PACKAGES, and the packages given as arguments (as root;
# otherwise prints the command to run and exits).
install_packages() {
  local missing
  mapfile -t missing < <(missing_packages)
  missing+=("$@")
  if [[ ${#missing[@]} -eq 0 ]]; then
    return
  fi
  local install=(apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}")
  if [[ $(id -u) -ne 0 ]]; then
    printf 'Missing packages: %s\nInstall them with:\n  sudo %s\n' "${missing[*]}" "${install[*]}" >&2
    exit 1
  fi
  step "Installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Refresh the package lists only when they are empty or the install cannot find a package.
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    apt-get -o DPkg::Lock::Timeout=600 update
  fi
  if ! "${install[@]}"; then
    apt-get -o DPkg::Lock::Timeout=600 update
    "${install[@]}"
  fi
}

install_mlflow() {
  local venv=${MLFLOW_VENV:-$repo_root/target/test-tools/mlflow-venv}
  export MLFLOW_VENV=$venv
  # Reading the installed version's metadata is instant; `mlflow --version` imports all of MLflow.
  if [[ -x $venv/bin/mlflow ]] && [[ $("$venv/bin/python" -c \
    'import importlib.metadata as m; print(m.version("mlflow"))' 2>/dev/null) == "$MLFLOW_VERSION" ]]; then
    return
  fi
  step "Installing MLflow $MLFLOW_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --disable-pip-version-check --quiet "mlflow==$MLFLOW_VERSION"
  "$venv/bin/mlflow" --version
}
