// What the host's command files all use, said once.
global using System.CommandLine;
global using System.Globalization;
global using Sidep.Domain;
global using Sidep.Gateway;
global using Sidep.Ingestion;
global using Sidep.Pipeline;
