# rtb default runtime template (lock build).
# Sections by plan:  scratch   = system setup + dependencies + source
#                    versioned = dependencies + source (system setup is in the base)
#                    lock      = source only (dependencies are in the base)
FROM local/busybox:1



# Source: replaced whole on every build.
RUN /bin/busybox rm -rf /rtb/runtime
COPY source/ /rtb/runtime/
ENV RTB_RUNTIME_HOME=/rtb/runtime \
    PATH=/rtb/runtime/bin:/rtb/deps/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /workspace
CMD ["/rtb/runtime/bin/rtb-runtime", "serve"]
