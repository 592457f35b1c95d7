-- 0009: user locales.
CREATE TABLE public.locales (
    code  varchar(8) PRIMARY KEY,
    name  text NOT NULL
);

ALTER TABLE public.users
    ADD COLUMN locale varchar(16) NOT NULL DEFAULT 'en'
        CONSTRAINT users_locale_fkey REFERENCES public.locales (code);
CREATE INDEX users_locale_idx ON public.users (locale);
