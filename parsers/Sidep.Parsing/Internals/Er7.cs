// The ER7 encoding primitives (delimited records with component, repetition, escape and sub-component
// characters) are shared by HL7 v2 and HPRIM Santé, which descend from the same encoding.
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("Sidep.Parsing.Hl7v2")]
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("Sidep.Parsing.Hprim")]
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("Sidep.Parsing.Fhir")]
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("Sidep.Parsing.Tests")]
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("Sidep.Benchmarks")]
