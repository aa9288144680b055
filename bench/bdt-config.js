/**
 * bdt (smart-on-fhir/bdt, Bulk Data v2 tests) configuration for this server, filled in
 * from the environment by bench/bdt.sh (see there for what each variable holds).
 * @type { import("bdt/types").bdt.ServerConfig }
 */
const fs = require("fs")

const env = name => {
    const value = process.env[name]
    if (!value) throw new Error(`bench/bdt-config.js: ${name} is not set (run bench/bdt.sh)`)
    return value
}

module.exports = {
    baseURL: env("BDT_BASE_URL"),

    // Declared explicitly so that a CapabilityStatement problem shows up as a failing
    // metadata test instead of silently skipping every export test.
    systemExportEndpoint : "$export",
    patientExportEndpoint: "Patient/$export",
    groupExportEndpoint  : process.env.BDT_GROUP_ID ? `Group/${process.env.BDT_GROUP_ID}/$export` : "",

    // Exported by bdt at every level (system, Patient, Group), so it must be in the
    // Patient compartment: Organization, though smaller, is refused at Patient level.
    fastestResource: "Patient",

    authentication: {
        type              : "backend-services",
        optional          : false,
        tokenEndpoint     : env("BDT_TOKEN_URL"),
        clientId          : env("BDT_CLIENT_ID"),
        privateKey        : JSON.parse(fs.readFileSync(env("BDT_PRIVATE_JWK"), "utf8")),
        // Also served to the server (client registered with --jwks-url): enables the
        // "Authorization using JWKS URL" test and sends it as the `jku` header.
        jwksUrl           : env("BDT_JWKS_URL"),
        scope             : process.env.BDT_SCOPE || "system/*.read",
        tokenSignAlgorithm: "ES384",
        tokenExpiresIn    : "5m",
        customTokenClaims : {},
        customTokenHeaders: {}
    },

    requests: {
        strictSSL    : true,
        timeout      : 30000,
        customHeaders: {}
    }
}
