# o2c: one image for web (gunicorn), worker and beat (Celery), and the one-shot migrate job.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=o2c.settings

WORKDIR /app

# Dependencies first, from pyproject alone, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

COPY . .
# Editable, so the code runs from /app next to templates/ and static/ (settings find them from BASE_DIR).
RUN pip install --no-deps -e . \
    && useradd --system --create-home --uid 10001 o2c \
    && mkdir -p var \
    && chown -R o2c:o2c var

USER o2c
# Static files are collected into the image; WhiteNoise serves them from gunicorn.
RUN python manage.py collectstatic --noinput -v0

EXPOSE 8000
CMD ["gunicorn", "o2c.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", "--access-logfile", "-"]
