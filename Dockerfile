# syntax=docker/dockerfile:1
# One image, one entry point for every role: `ironlb controller`, `ironlb speaker`,
# and the tools (`ironlb replay`, `explain`, ...) for debugging inside a cluster.

FROM python:3.11.10-slim-bookworm AS build
WORKDIR /src
COPY requirements.lock pyproject.toml README.md ./
COPY src ./src
# Wheels for the pinned dependencies and for ironlb itself; nothing is resolved at
# install time in the final stage.
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.lock \
 && pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11.10-slim-bookworm
LABEL org.opencontainers.image.source="https://github.com/ironlb/ironlb" \
      org.opencontainers.image.description="ironlb: an event-sourced load balancer for bare-metal Kubernetes"
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels /wheels/*.whl \
 && rm -rf /wheels \
 && mkdir -p /var/lib/ironlb \
 && chown 65534:65534 /var/lib/ironlb
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
# Non-root by default (the controller, the tools); the speaker's manifest runs it as
# root with only NET_RAW and NET_ADMIN, which raw sockets need.
USER 65534:65534
ENTRYPOINT ["ironlb"]
CMD ["plan"]
