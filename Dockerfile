# batchrunner's image: the wheel on a slim Python, run as a non-root user, `batchrunner` as entrypoint.
#   docker build -t batchrunner .
#   docker run --rm batchrunner db upgrade          (the Procfile's release line)
#   docker run --rm --entrypoint dramatiq batchrunner batchrunner.worker --processes 2 --threads 8
# The Kubernetes manifests in deploy/k8s/ run this image with the Procfile's commands, as uid 10001.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY batchrunner ./batchrunner
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --gid 10001 batchrunner \
    && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin batchrunner
COPY --from=build /wheels /wheels
# The amqp extra brings pika, for a RabbitMQ broker; a Redis broker needs nothing more.
RUN pip install --no-cache-dir "$(ls /wheels/batchrunner-*.whl)[amqp]" && rm -rf /wheels
USER 10001:10001
WORKDIR /home/batchrunner
EXPOSE 9191
ENTRYPOINT ["batchrunner"]
CMD ["--help"]
