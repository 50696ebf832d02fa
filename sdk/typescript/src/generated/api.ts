// Types of the MESH node's local HTTP API, generated from `mesh openapi`.
// Do not edit: run `npm run generate` after the API changes.

export interface paths {
    "/metrics": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Prometheus metrics (OpenMetrics text) */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Metrics */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/openmetrics-text": string;
                    };
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/openapi.json": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** This document */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description OpenAPI document */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": Record<string, never>;
                    };
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/agents": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Discover agents offering every named capability, best first */
        get: {
            parameters: {
                query?: {
                    /** @description Comma-separated capability names, each matching [a-z0-9][a-z0-9._-]{0,63} */
                    capabilities?: string;
                    limit?: number;
                    min_reputation?: number;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Agents */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Agent"][];
                    };
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/health": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Liveness, without the token: `{"status": "ok"}` and nothing else */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Alive */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            /** @constant */
                            status: "ok";
                        };
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/info": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** This node */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Node info */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["NodeInfo"];
                    };
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/intents": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Intents this node knows with their lifecycle status: its own (newest first), then open ones from the network */
        get: {
            parameters: {
                query?: {
                    limit?: number;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Intents */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["IntentView"][];
                    };
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        /** Sign and publish an intent on the topic of each of its capabilities */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["PublishIntentRequest"];
                };
            };
            responses: {
                /** @description Published */
                201: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["PublishOutcome"];
                    };
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Body over 256 KiB */
                413: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/intents/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One intent with its lifecycle status */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description Intent id, 64 hex digits */
                    id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Intent */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["IntentView"];
                    };
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Unknown intent */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/intents/{id}/award": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Award an intent this node published: collect offers for the window, choose the lowest price among eligible agents (ties: reputation, then ETA), counter where asked, accept exactly one and reject the rest */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description Intent id, 64 hex digits */
                    id: string;
                };
                cookie?: never;
            };
            requestBody?: {
                content: {
                    "application/json": components["schemas"]["AwardRequest"];
                };
            };
            responses: {
                /** @description What was done; `accepted` is absent when no offer qualified */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["AwardOutcome"];
                    };
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Not this node's intent */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Unknown intent */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description The intent takes no more offers */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description `too_many_streams`: as many event streams and award requests as the node allows (64 by default) are open; close one and retry */
                503: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/intents/{id}/cancel": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Cancel an intent this node published and nobody was awarded: the signed cancellation travels like the intent and open offers are withdrawn */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description Intent id, 64 hex digits */
                    id: string;
                };
                cookie?: never;
            };
            requestBody?: {
                content: {
                    "application/json": components["schemas"]["CancelRequest"];
                };
            };
            responses: {
                /** @description Cancelled */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["CancelOutcome"];
                    };
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Not this node's intent */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Unknown intent */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Already agreed, expired or cancelled */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/intents/{id}/offers": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Open offers on an intent this node published, with this node's reputation of each agent */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description Intent id, 64 hex digits */
                    id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Offers */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Offer"][];
                    };
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/intents/stream": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Server-Sent Events: an `intent` event (data: Intent JSON) per verified intent received, an `intent_update` event (data: IntentUpdate JSON) per cancellation; resumable with Last-Event-ID
         * @description With `capabilities`, the node joins those topics and only their intents, and updates of them, are sent; without, every intent on the node's topics. Every event has `id:` its sequence number in the node's event log, a decimal string that increases across event kinds and node restarts (the log lives in the node's store and keeps the newest 100,000 events). The stream starts with `retry: 2000`. A resume point older than the log gets what the log holds, after a comment line `: log starts at N`; one ahead of the log gets live events, after a comment. Comment lines (`:`) are keep-alives (every 15 s) or such notes. A client that falls behind loses nothing the log still holds. The stream ends when the node stops.
         */
        get: {
            parameters: {
                query?: {
                    /** @description Comma-separated capability names, each matching [a-z0-9][a-z0-9._-]{0,63} */
                    capabilities?: string;
                    /** @description A name for this stream (1 to 64 of a-z, 0-9, '.', '_', '-'). The node saves the id of the last event it handed to the connection under it, and a later connection with the same name and no event id resumes after that. An event in flight when a connection breaks may be past the saved position: use Last-Event-ID to get every event exactly once. Bad name: 400 `invalid_cursor`. */
                    cursor?: string;
                    /** @description The same as the Last-Event-ID header, for clients that cannot set headers; the header wins when both are present. 0 replays the whole log. Not a decimal number: 400 `invalid_last_event_id`. */
                    last_event_id?: number;
                };
                header?: {
                    /** @description Resume after this event: the decimal `id:` of the last event received. Every event the node's log still holds after it (of this stream's kinds, and for intents matching `capabilities`) is sent first, in order, then live events, none twice. Browsers' EventSource sends it on reconnect. A value that is not a decimal number is ignored (live events only, with a comment saying so). */
                    "Last-Event-ID"?: string;
                };
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Event stream */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/event-stream": components["schemas"]["Intent"] | components["schemas"]["IntentUpdate"];
                    };
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description `too_many_streams`: as many event streams and award requests as the node allows (64 by default) are open; close one and retry */
                503: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/load": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        /** Set the load this agent advertises in its agent record */
        put: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        load: number;
                    };
                };
            };
            responses: {
                /** @description Set; the record is re-announced */
                204: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/negotiations": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** This node's negotiations */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Negotiations */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["NegotiationSummary"][];
                    };
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/negotiations/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One negotiation and its signed transcript (exportable, verifiable offline) */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description Negotiation id, 64 hex digits */
                    id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Detail */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            summary?: components["schemas"]["NegotiationSummary"];
                            transcript?: components["schemas"]["TranscriptJson"];
                        };
                    };
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Unknown negotiation */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/negotiations/{id}/accept": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Accept the other party's outstanding proposal */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description Negotiation id, 64 hex digits */
                    id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Sent and acknowledged by the other party */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["NegotiationEvent"];
                    };
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Unknown negotiation */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Refused: illegal in this state, or by the other party */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description The other party is unreachable */
                502: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/negotiations/{id}/cancel": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Cancel an agreement whose delivery is overdue (publisher; 409 not_overdue before the due time); the intent may then be awarded again */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description Negotiation id, 64 hex digits */
                    id: string;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["Reason"];
                };
            };
            responses: {
                /** @description Sent and acknowledged by the other party */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["NegotiationEvent"];
                    };
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Unknown negotiation */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Refused: illegal in this state, or by the other party */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description The other party is unreachable */
                502: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/negotiations/{id}/counter": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Counter the agent's offer (publisher) */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description Negotiation id, 64 hex digits */
                    id: string;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["Proposal"];
                };
            };
            responses: {
                /** @description Sent and acknowledged by the other party */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["NegotiationEvent"];
                    };
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Unknown negotiation */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Refused: illegal in this state, or by the other party */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description The other party is unreachable */
                502: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/negotiations/{id}/deliver": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Deliver the agreed work (agent) */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description Negotiation id, 64 hex digits */
                    id: string;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["DeliverRequest"];
                };
            };
            responses: {
                /** @description Sent and acknowledged by the other party */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["NegotiationEvent"];
                    };
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Unknown negotiation */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Refused: illegal in this state, or by the other party */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description The other party is unreachable */
                502: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/negotiations/{id}/receipt": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Rate the delivery, completing the negotiation (publisher) */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description Negotiation id, 64 hex digits */
                    id: string;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["ReceiptRequest"];
                };
            };
            responses: {
                /** @description Sent and acknowledged by the other party */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["NegotiationEvent"];
                    };
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Unknown negotiation */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Refused: illegal in this state, or by the other party */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description The other party is unreachable */
                502: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/negotiations/{id}/reject": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Reject the outstanding proposal, ending the negotiation */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description Negotiation id, 64 hex digits */
                    id: string;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["Reason"];
                };
            };
            responses: {
                /** @description Sent and acknowledged by the other party */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["NegotiationEvent"];
                    };
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Unknown negotiation */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Refused: illegal in this state, or by the other party */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description The other party is unreachable */
                502: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/negotiations/{id}/withdraw": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Withdraw before an agreement */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description Negotiation id, 64 hex digits */
                    id: string;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["Reason"];
                };
            };
            responses: {
                /** @description Sent and acknowledged by the other party */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["NegotiationEvent"];
                    };
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Unknown negotiation */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Refused: illegal in this state, or by the other party */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description The other party is unreachable */
                502: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/negotiations/offer": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Bid on an intent this node has seen: opens a negotiation with its publisher */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["OfferRequest"];
                };
            };
            responses: {
                /** @description Sent and acknowledged */
                201: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["NegotiationEvent"];
                    };
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Intent not open here */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Refused: illegal now, or by the other party */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Publisher unreachable */
                502: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/negotiations/stream": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Server-Sent Events: one `negotiation` event (data: NegotiationEvent JSON) per message taken into this node's negotiations, sent or received; resumable with Last-Event-ID
         * @description Every event has `id:` its sequence number in the node's event log, a decimal string that increases across event kinds and node restarts (the log lives in the node's store and keeps the newest 100,000 events). The stream starts with `retry: 2000`. A resume point older than the log gets what the log holds, after a comment line `: log starts at N`; one ahead of the log gets live events, after a comment. Comment lines (`:`) are keep-alives (every 15 s) or such notes. A client that falls behind loses nothing the log still holds. The stream ends when the node stops.
         */
        get: {
            parameters: {
                query?: {
                    /** @description A name for this stream (1 to 64 of a-z, 0-9, '.', '_', '-'). The node saves the id of the last event it handed to the connection under it, and a later connection with the same name and no event id resumes after that. An event in flight when a connection breaks may be past the saved position: use Last-Event-ID to get every event exactly once. Bad name: 400 `invalid_cursor`. */
                    cursor?: string;
                    /** @description The same as the Last-Event-ID header, for clients that cannot set headers; the header wins when both are present. 0 replays the whole log. Not a decimal number: 400 `invalid_last_event_id`. */
                    last_event_id?: number;
                };
                header?: {
                    /** @description Resume after this event: the decimal `id:` of the last event received. Every event the node's log still holds after it (of this stream's kinds, and for intents matching `capabilities`) is sent first, in order, then live events, none twice. Browsers' EventSource sends it on reconnect. A value that is not a decimal number is ignored (live events only, with a comment saying so). */
                    "Last-Event-ID"?: string;
                };
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Event stream */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/event-stream": components["schemas"]["NegotiationEvent"];
                    };
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description `too_many_streams`: as many event streams and award requests as the node allows (64 by default) are open; close one and retry */
                503: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/peers": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Connected peers */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Peers, best reputation first */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Peer"][];
                    };
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        /** Dial a peer */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        /** @description Multiaddr, ideally ending in /p2p/<peer id> */
                        address: string;
                    };
                };
            };
            responses: {
                /** @description Dialling */
                202: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description The dial could not start */
                502: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/peers/{peer_id}/reputation": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** This node's view of a peer's reputation: the figure discovery and the offer strategy use, and what it rests on (receipts, this node's own observations). Any peer id may be asked; one nothing is known of is neutral (0.5) with `known` false */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description Peer id, base58, as `mesh peers` shows it (12D3KooW...) */
                    peer_id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description This node's view of the peer's reputation */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["ReputationView"];
                    };
                };
                /** @description Not a peer id: `invalid_peer_id` */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/reachability": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Reachability: AutoNAT's verdict and why, NAT and UPnP, listen, observed and external addresses, relay reservations, each peer direct or relayed, and advice */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Reachability report */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Reachability"];
                    };
                };
                /** @description Bad input */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Missing or wrong bearer token */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Too many requests (`rate_limited`: the API serves the token's holder 500 a second, bursts of 1,000, and requests without the token 20 a second, bursts of 40, on a budget of their own; a publish beyond the intent quota) or too much in flight (`busy`): retry shortly */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        Agent: {
            addresses: string[];
            capabilities: string[];
            expires_at_ms: number;
            load: number;
            name: string;
            peer_id: string;
            reputation: number;
            rtt_ms?: number | null;
            skills: components["schemas"]["Skill"][];
        };
        AwardOutcome: {
            /** @description The agreed negotiation; absent when no offer qualified */
            accepted?: string;
            agent?: string;
            countered?: string;
            declined: string[];
            offers: number;
            price?: string;
        };
        AwardRequest: {
            /** @default 10000 */
            answer_wait_ms?: number;
            counter_at?: components["schemas"]["Budget"];
            /** @description Default: the intent's own minimum */
            min_reputation?: number;
            /**
             * @description Collect offers this long before choosing
             * @default 0
             */
            window_ms?: number;
        };
        Budget: {
            /** @example 2.50 */
            amount: string;
            /** @example USD */
            currency: string;
        };
        CancelOutcome: {
            id: string;
            /** @description Topics the signed cancellation was published on */
            topics: string[];
            /** @description Open negotiations withdrawn */
            withdrawn: number;
        };
        CancelRequest: {
            reason?: string;
        };
        /** @description Either data_base64 (with content_type) or location with digest */
        DeliverRequest: {
            content_type?: string;
            /** @description At most 48 KiB decoded */
            data_base64?: string;
            /** @description SHA-256 of the result at location, hex */
            digest?: string;
            location?: string;
        };
        Error: {
            error: {
                code: string;
                message: string;
            };
        };
        /** @description A party's broken commitment, kept with the negotiation as evidence */
        Fault: {
            at_ms: number;
            /** @enum {string} */
            by: "publisher" | "agent";
            /** @enum {string} */
            kind: "non_delivery" | "missing_receipt";
            peer: string;
        };
        Intent: {
            budget?: components["schemas"]["Budget"];
            capabilities: string[];
            created_at_ms: number;
            deadline_ms: number;
            description: string;
            expires_at_ms: number;
            id: string;
            min_reputation: number;
            payload?: components["schemas"]["Payload"];
            publisher: string;
            received_at_ms?: number;
            received_from?: string;
            title: string;
        };
        /** @enum {string} */
        IntentStatus: "open" | "negotiating" | "agreed" | "delivered" | "completed" | "expired" | "cancelled";
        IntentUpdate: {
            /** @description The intent's capabilities; absent when the node no longer held the intent (such updates go to every intent stream) */
            capabilities?: string[];
            /** @description Intent id, 64 hex digits */
            id: string;
            /** @description The publisher's reason, for a cancellation */
            reason?: string;
            /** @description The intent's new status; `cancelled` today */
            status: string;
        };
        IntentView: {
            /** @example 2.50 USD */
            budget?: string;
            cancel_reason?: string;
            capabilities: string[];
            created_at_ms: number;
            expires_at_ms: number;
            id: string;
            min_reputation: number;
            /** @description This node's negotiations on it */
            negotiations: number;
            /** @description Published by this node */
            own: boolean;
            publisher: string;
            status: components["schemas"]["IntentStatus"];
            title: string;
        };
        NegotiationEvent: {
            fault?: components["schemas"]["Fault"];
            intent_id: string;
            /**
             * @description `timeout`: the negotiation expired and left a commitment unmet (see `fault`)
             * @enum {string}
             */
            kind: "offer" | "counter" | "accept" | "reject" | "withdraw" | "deliver" | "receipt" | "timeout";
            negotiation_id: string;
            peer: string;
            price?: string;
            received: boolean;
            /** @enum {string} */
            role: "publisher" | "agent";
            seq: number;
            /** @enum {string} */
            state: "awaiting_offer" | "offered" | "countered" | "agreed" | "delivered" | "completed" | "rejected" | "withdrawn" | "expired";
        };
        NegotiationSummary: {
            agent: string;
            /** @description Once agreed: when the delivery is due, Unix ms; from then on the publisher may cancel an undelivered agreement */
            due_at_ms?: number;
            fault?: components["schemas"]["Fault"];
            intent_id: string;
            messages: number;
            negotiation_id: string;
            price?: string;
            proposal?: {
                amount?: string;
                currency?: string;
                due_at_ms?: number;
                terms?: string;
            };
            publisher: string;
            role: string;
            state: string;
        };
        NodeInfo: {
            agent_version: string;
            capabilities: string[];
            connected_peers: number;
            /** @description Full multiaddrs ending in /p2p/<peer id> */
            listen_addrs: string[];
            peer_id: string;
            subscriptions: string[];
        };
        Offer: {
            agent: string;
            amount: string;
            currency: string;
            due_at_ms: number;
            negotiation_id: string;
            reputation: number;
        };
        OfferRequest: components["schemas"]["Proposal"] & {
            /** @description 64 hex digits */
            intent_id: string;
        };
        Payload: {
            content_type: string;
            /** @description At most 48 KiB once decoded */
            data_base64: string;
        };
        Peer: {
            addresses: string[];
            agent_version?: string | null;
            connections: number;
            /** @description The peer's gossipsub score at this node: below 0 it is pruned from the node's meshes, below -80 its gossip is ignored */
            gossip_score?: number | null;
            peer_id: string;
            reputation: number;
            rtt_ms?: number | null;
        };
        PeerPath: {
            direct: number;
            /** @enum {string} */
            path: "direct" | "relayed";
            peer_id: string;
            relayed: number;
            /** @description From the first relayed connection to the first direct one */
            upgraded_after_ms?: number | null;
        };
        Proposal: {
            /** @example 2.50 */
            amount: string;
            /** @example USD */
            currency: string;
            /** @description Delivery within this many seconds of the agreement */
            eta_secs: number;
            terms?: string;
        };
        PublishIntentRequest: {
            budget?: components["schemas"]["Budget"];
            capabilities: string[];
            deadline_ms?: number;
            description?: string;
            min_reputation?: number;
            payload?: components["schemas"]["Payload"];
            title: string;
            /** @default 3600 */
            ttl_secs?: number;
        };
        PublishOutcome: {
            /** @description Intent id: SHA-256 of the signed payload, hex */
            id: string;
            topics: {
                capability: string;
                /** @description Subscribers known when published; 0 means none was reachable */
                peers: number;
            }[];
        };
        Reachability: {
            /** @description What to do, if anything */
            advice: string[];
            /** @description Probes in a row that agreed */
            confidence: number;
            /** @description Confirmed reachable addresses (AutoNAT, UPnP, relay, configured) */
            external_addrs: string[];
            hole_punching: {
                attempts: number;
                recent_errors: string[];
                successes: number;
            };
            listen_addrs: string[];
            /** @description The NAT in plain words, UPnP and hole punching included */
            nat: string;
            /** @description Where peers saw this node's connections come from */
            observed_addrs: string[];
            peers: components["schemas"]["PeerPath"][];
            /** @description The address a peer dialled back, when public */
            public_address?: string | null;
            /** @description Why, in plain words (the last probe's outcome) */
            reason: string;
            reservations: components["schemas"]["RelayReservation"][];
            /** @enum {string} */
            role: "agent" | "coordinator";
            /**
             * @description AutoNAT's verdict
             * @enum {string}
             */
            status: "public" | "private" | "unknown";
            /** @description off, searching, mapped <addr>, no gateway, gateway not public */
            upnp: string;
        };
        Reason: {
            reason?: string;
        };
        ReceiptRequest: {
            comment?: string;
            rating: number;
        };
        RelayReservation: {
            /** @description Where peers reach this node through the relay */
            address: string;
            /** @description From --relay rather than from AutoNAT */
            configured: boolean;
            last_error?: string | null;
            relay: string;
            renewals: number;
            /** @enum {string} */
            state: "requested" | "active" | "failed";
        };
        ReputationView: {
            /** @description When the scores were last recomputed, Unix ms (0: not yet) */
            computed_at_ms: number;
            /** @description Its share of EigenTrust's vector: above 0 only if a chain of good receipts leads to it from a peer this node trusts */
            global_trust: number;
            /** @description Whether a receipt this node holds names it (as agent or publisher), as of the last recomputation */
            known: boolean;
            /** @description This node's own score of the peer's messages (valid ones raise it, invalid ones lower it) */
            local_score: number;
            /** @description Weighted evidence against it (sum of one minus the ratings counted) */
            negative_evidence: number;
            /** @description The peer, base58 */
            peer_id: string;
            /** @description Weighted evidence for it (sum of the ratings counted) */
            positive_evidence: number;
            /** @description How much its own receipts count */
            rater_weight: number;
            /** @description From the receipts this node holds: 0.5 for an agent nobody trusted rated */
            receipts_score: number;
            /** @description As discovery's min_reputation and the offer strategy see it: receipts_score, lowered when local_score is below 0.5 */
            reputation: number;
        };
        Skill: {
            description?: string;
            id?: string;
            name?: string;
            tags?: string[];
        };
        TranscriptJson: {
            envelopes: string[];
            /** @constant */
            format: "mesh-negotiation-transcript/1";
        };
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export type operations = Record<string, never>;
