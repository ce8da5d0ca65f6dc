# rtb default runtime template (scratch build).
# Sections by plan:  scratch   = system setup + dependencies + source
#                    versioned = dependencies + source (system setup is in the base)
#                    lock      = source only (dependencies are in the base)
FROM local/busybox:1

# System setup: the runtime's directories.
RUN /bin/busybox mkdir -p /rtb/runtime /rtb/deps/bin /rtb/lock /workspace /tmp && \
    /bin/busybox chmod 1777 /tmp

# Dependencies from the lock files: each listed tool becomes a link to busybox.
RUN /bin/busybox rm -rf /rtb/lock /rtb/deps/bin && /bin/busybox mkdir -p /rtb/lock /rtb/deps/bin

RUN set -e; cd /rtb/lock; for lock in *; do [ -f "$lock" ] || continue; \
      while read -r tool rest; do \
        case "$tool" in ''|'#'*) continue ;; esac; \
        /bin/busybox --list | /bin/busybox grep -qx "$tool" || { echo "busybox has no applet '$tool' ($lock)" >&2; exit 1; }; \
        /bin/busybox ln -sf /bin/busybox "/rtb/deps/bin/$tool"; \
      done < "$lock"; \
    done


# Source: replaced whole on every build.

COPY source/ /rtb/runtime/
ENV RTB_RUNTIME_HOME=/rtb/runtime \
    PATH=/rtb/runtime/bin:/rtb/deps/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /workspace
CMD ["/rtb/runtime/bin/rtb-runtime", "serve"]
