"""The KIS Open API adapter: REST client, token cache, rate limiter, execution notices."""
